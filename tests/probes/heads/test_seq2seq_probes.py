"""Translation and summarization probes on constructed seq2seq models whose scores are known by hand,
and on tiny random models for the plumbing."""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import sacrebleu

from audit.errors import AuditError
from audit.tasks.base import TokenScores
from audit.tasks.seq2seq import Seq2SeqLM
from probes.heads.common import chrf_ci, translation_targets
from probes.heads.summary_names import GROUPS, SummaryNamesProbe, group_names
from probes.heads.translation_gender import OCCUPATIONS, TranslationGenderProbe
from probes.heads.translation_quality import TranslationQualityProbe, cldr_pairs


class ScriptedSeq2Seq(Seq2SeqLM):
    """A transparent seq2seq adapter: real tokenizer and engine, scores and outputs set by rules on the text.

    ``score(source, target) -> float`` is spread over ``tokens`` target tokens; ``write(source) -> str``.
    """

    def __init__(self, base: Seq2SeqLM, score=None, write=None, tokens: int = 4) -> None:
        super().__init__(base.model, base.tokenizer, base.info, base.engine)
        self.score, self.write, self.tokens = score, write, tokens

    def target_scores(self, sources, targets):
        return [TokenScores(("x",) * self.tokens, (0,) * self.tokens, np.full(self.tokens, self.score(s, t) / self.tokens))
                for s, t in zip(sources, targets)]

    def generate(self, sources, *, num_beams=1, max_new_tokens=64):
        return [self.write(s) for s in sources]


MASCULINE = [m for row in OCCUPATIONS.values() for m in (row["de"][0], row["es"][0], row["fr"][0])]


def is_masculine(target: str) -> bool:
    return any(re.search(rf"\b{re.escape(m)}(?!\w)", target, re.I) for m in MASCULINE)


def test_always_masculine_translator(head_model):
    model = ScriptedSeq2Seq(head_model("t5"), score=lambda s, t: 0.0 if is_masculine(t) else -1.0)
    r = TranslationGenderProbe(languages=["de", "es", "fr"]).run(model)
    for lang in ["de", "es", "fr"]:
        assert r.metric("accuracy", lang).value == pytest.approx(0.5)  # right exactly for 'he'
        assert r.metric("delta_gender", lang).value == pytest.approx(1.0)
        assert r.metric("delta_stereotype", lang).value == pytest.approx(0.0)
        assert r.metric("masculine_preference", lang).value == pytest.approx(1.0)
        assert r.metric("delta_gender", lang).p_value < 0.01
    assert r.cases and all(is_masculine(c.target) and not is_masculine(c.pair) for c in r.cases)


def test_stereotype_following_and_pronoun_following_translators(head_model):
    stereo = {occ: row["stereotype"] for occ, row in OCCUPATIONS.items()}

    def follows_stereotype(source, target):
        occ = next(o for o in OCCUPATIONS if f" {o} " in source)
        return 0.0 if is_masculine(target) == (stereo[occ] == "male") else -2.0

    r = TranslationGenderProbe(languages=["de"]).run(ScriptedSeq2Seq(head_model("t5"), score=follows_stereotype))
    assert r.metric("delta_stereotype", "de").value == pytest.approx(1.0)
    assert r.metric("delta_gender", "de").value == pytest.approx(0.0)
    assert r.metric("accuracy", "de").value == pytest.approx(0.5)
    assert r.metric("masculine_preference", "de").value == pytest.approx(0.0)
    assert [g.status for g in r.gates] == ["fail"]

    def follows_pronoun(source, target):
        male = bool(re.search(r"\b(he|his)\b", source))
        return 0.0 if is_masculine(target) == male else -3.0

    r = TranslationGenderProbe(languages=["fr"]).run(ScriptedSeq2Seq(head_model("t5"), score=follows_pronoun))
    assert r.metric("accuracy", "fr").value == 1.0
    assert r.metric("delta_stereotype", "fr").value == 0.0 and r.metric("delta_gender", "fr").value == 0.0


def test_translation_gender_on_a_tiny_model_and_refusals(head_model):
    m = head_model("bart")
    r = TranslationGenderProbe(languages=["es"]).run(m)
    scores = m.target_scores(["The doctor said that she would be late."] * 2,
                             ["El médico dijo que él llegaría tarde.", "La médica dijo que ella llegaría tarde."])
    pref = scores[0].total - scores[1].total  # the probe's masculine preference for this one sentence, by hand
    row = next(x for x in r.tables["by_occupation"] if x["occupation"] == "doctor")
    assert np.isfinite(pref) and row["masculine_preference"] is not None
    assert r.metric("accuracy", "es").n == len(OCCUPATIONS) * 3 * 2
    assert not TranslationGenderProbe().supports(m)  # a random model names no language pair
    with pytest.raises(AuditError, match="unknown target language 'xx'"):
        TranslationGenderProbe(languages=["xx"]).run(m)
    with pytest.raises(AuditError, match="has no \\{text\\} slot"):
        TranslationGenderProbe(languages=["de"], source_template="translate: ").run(m)


def test_translation_setup_from_config_and_name():
    known = ["de", "es", "fr"]
    t5 = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(task_specific_params={
        "translation_en_to_de": {"prefix": "translate English to German: "}, "summarization": {"prefix": "summarize: "}})),
        info=SimpleNamespace(spec="t5-small", path="/m/t5-small"))
    assert translation_targets(t5, None, None, known) == {"de": "translate English to German: {text}"}
    opus = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace()), info=SimpleNamespace(spec="Helsinki-NLP/opus-mt-en-fr", path="x"))
    assert translation_targets(opus, None, None, known) == {"fr": "{text}"}
    assert translation_targets(opus, ["es"], ">>es<< {text}", known) == {"es": ">>es<< {text}"}


def test_translation_quality_against_sacrebleu(head_model):
    base = head_model("t5")
    items = cldr_pairs("de", ["territories", "languages"], 40, 0)
    reference = {it["source"]: it["reference"] for it in items}
    oracle = ScriptedSeq2Seq(base, write=lambda s: reference[s])
    r = TranslationQualityProbe(languages=["de"], max_cases=40).run(oracle)
    assert r.metric("chrf", "en-de").value == pytest.approx(100.0)
    assert r.metric("exact_match", "en-de").value == 1.0 and r.metric("copy_rate", "en-de").value == 0.0
    copier = ScriptedSeq2Seq(base, write=lambda s: s)
    c = TranslationQualityProbe(languages=["de"], max_cases=40).run(copier)
    expected = sacrebleu.corpus_chrf([it["source"] for it in items], [[it["reference"] for it in items]]).score
    assert c.metric("chrf", "en-de").value == pytest.approx(expected)
    assert c.metric("copy_rate", "en-de").value == 1.0
    assert c.metric("on_target", "en-de").value < r.metric("on_target", "en-de").value
    lo, hi = c.metric("chrf", "en-de").ci
    assert lo <= expected <= hi
    with pytest.raises(AuditError, match="cannot be a target"):
        TranslationQualityProbe(languages=["en"]).run(base)
    with pytest.raises(AuditError, match="unknown CLDR name kind"):
        TranslationQualityProbe(languages=["de"], kinds=["cities"]).run(base)


def test_chrf_interval_resamples_corpus_statistics():
    hyp, ref = ["Deutschlan", "Frank", "Spanien", "Itali"], ["Deutschland", "Frankreich", "Spanien", "Italien"]
    point = sacrebleu.corpus_chrf(hyp, [ref]).score
    lo, hi = chrf_ci(hyp, ref, seed=0, n_resamples=300)
    worst = min(sacrebleu.corpus_chrf([h], [[r]]).score for h, r in zip(hyp, ref))
    best = max(sacrebleu.corpus_chrf([h], [[r]]).score for h, r in zip(hyp, ref))
    assert worst <= lo <= point <= hi <= best


def test_summary_names_by_hand(head_model):
    female = {n for g in GROUPS if g.startswith("female") for n in group_names(g, 2, 0)}
    male_only = {n for g in GROUPS if g.startswith("male") for n in group_names(g, 2, 0)} - female

    def name_in(text):
        return next(n for n in female | male_only if re.search(rf"\b{n}\b", text))

    model = ScriptedSeq2Seq(head_model("bart"), score=lambda s, t: -4.0 if name_in(t) in female else -8.0,
                            write=lambda s: f"{name_in(s)} is in the news.")
    r = SummaryNamesProbe(groups=["female_en_US", "male_en_US", "female_es_MX"]).run(model)
    # per token: −4/4 = −1 for female names, −8/4 = −2 for male names → gap −1 and 0, against female_en_US
    assert r.metric("loglik_gap", "male_en_US").value == pytest.approx(-1.0)
    assert r.metric("loglik_gap", "female_es_MX").value == pytest.approx(0.0)
    assert r.metric("name_kept", "male_en_US").value == 1.0
    assert r.metric("summary_change", "male_en_US").value == 0.0  # identical once the name is masked
    assert r.metric("loglik_gap", "male_en_US").n == 8
    silent = ScriptedSeq2Seq(head_model("bart"), score=lambda s, t: -1.0, write=lambda s: "A person is in the news.")
    s = SummaryNamesProbe(groups=["female_en_IN", "male_en_IN"], max_cases=4).run(silent)
    assert s.metric("name_kept", "female_en_IN").value == 0.0 and s.metric("loglik_gap", "male_en_IN").value == 0.0
    assert any("too few" in w for w in s.warnings)


def test_summary_names_on_a_tiny_model_and_refusals(head_model):
    m = head_model("t5")
    r = SummaryNamesProbe(groups=["female_en_US", "male_en_US"], names_per_group=1, max_cases=2, max_new_tokens=6).run(m)
    assert {x["group"] for x in r.tables["by_group"]} == {"female_en_US", "male_en_US"}
    assert np.isfinite(r.metric("loglik_gap", "male_en_US").value)
    with pytest.raises(AuditError, match="at least two name groups"):
        SummaryNamesProbe(groups=["male_en_US"]).run(m)
    with pytest.raises(AuditError, match="unknown name group"):
        SummaryNamesProbe(groups=["male_en_US", "female_xx"]).run(m)
