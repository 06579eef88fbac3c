"""multilingual.tokenizer against hand-counted values, brute-force loops and tokenizers with known gaps."""
from __future__ import annotations

import math
import unicodedata

import numpy as np
import pytest

from audit.errors import AuditError
from audit.gates import Threshold
from probes.multilingual import coverage, segment
from probes.multilingual.languages import ENGLISH, Language, parallel_names, registry
from probes.multilingual.tokenizer import TokenizerCoverageProbe, language_table


def _row(result, code):
    return next(r for r in result.tables["languages"] if r["code"] == code)


def one_per_script() -> list[str]:
    """The first language with a sample in each script (about 160): every script, a fifth of the work."""
    first: dict[str, str] = {}
    for lang in registry().values():
        if lang.sample:
            first.setdefault(lang.script, lang.code)
    return sorted(first.values())


def _fake(code: str, sample: str) -> Language:
    lang, script = code.split("_")
    return Language(code, lang, code, script, 1000, False, "very low", sample, (), None, None)


def test_fertility_and_premium_match_hand_counts_on_a_character_wordpiece(char_wordpiece):
    """One token per character: fertility is the mean word length, the premium the ratio of character counts."""
    reg = registry()
    fr, de = reg["fr_Latn"], reg["de_Latn"]
    texts = [reg[ENGLISH].sample, fr.sample, de.sample] + [s for lang in (fr, de) for both in parallel_names(lang).values() for s in both]
    tok = char_wordpiece(texts)
    result = TokenizerCoverageProbe(languages=["fr", "de"], frequent_words=0).measure(tok)
    for lang in (fr, de):
        row = _row(result, lang.code)
        words = segment.words(lang.sample)
        assert row["words"] == len(words)
        assert row["fertility"] == pytest.approx(sum(len(w) for w in words) / len(words), abs=1e-4)
        assert row["continued"] == pytest.approx(sum(len(w) >= 2 for w in words) / len(words), abs=1e-4)
        assert row["unk_rate"] == 0.0 and row["byte_rate"] == 0.0 and row["chars_lost"] == 0.0
        pairs = parallel_names(lang)
        chars = lambda s: sum(not c.isspace() for c in s)  # noqa: E731
        by_hand = sum(chars(a) for a, _ in pairs.values()) / sum(chars(b) for _, b in pairs.values())
        assert row["premium"] == pytest.approx(by_hand, abs=1e-4)
        assert row["parallel_items"] == len(pairs)
    assert result.metric("premium", "fr_Latn").value == _row(result, "fr_Latn")["premium"]


def test_word_level_fertility_is_one_and_unk_rate_is_the_share_of_unseen_words(word_level):
    tok = word_level(["the cat sat on the mat", "a dog ran"])
    sample = "The cat sat on the mat, and the dog ran; a bird flew over it all day long " * 2
    rows = language_table(coverage.inspect_tokenizer(tok), [_fake("xx_Latn", sample)], min_words=5, frequent=0)
    words = segment.words(sample)
    known = {"the", "cat", "sat", "on", "mat", "a", "dog", "ran"}
    assert rows[0]["fertility"] == 1.0
    assert rows[0]["unk_rate"] == pytest.approx(sum(w not in known for w in words) / len(words), abs=1e-4)
    assert rows[0]["status"] == "ok"


def test_batched_counts_equal_a_per_word_loop_on_the_real_tokenizer():
    from audit.testing import minilm_tokenizer

    tok = minilm_tokenizer()
    facts = coverage.inspect_tokenizer(tok)
    words = [w for code in ("fr_Latn", "hi_Deva", "ru_Cyrl", "am_Ethi") for w in segment.words(registry()[code].sample)[:40]]
    counts = coverage.count(facts, words)
    loop = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
    assert counts.tokens.tolist() == [len(x) for x in loop]
    assert counts.unk.tolist() == [tok.unk_token_id in x for x in loop]


def test_a_byte_level_bpe_has_no_unk_and_falls_back_to_bytes_for_unseen_scripts():
    from audit.testing import bpe_tokenizer

    tok = bpe_tokenizer("roberta")
    result = TokenizerCoverageProbe(languages=one_per_script() + ["am"], frequent_words=0).measure(tok)
    rows = result.tables["languages"]
    assert len({r["script"] for r in rows}) >= 150
    assert all(r["unk_rate"] == 0.0 for r in rows)
    assert result.metric("max_unk_rate").value == 0.0
    # byte pieces, checked independently: a token that decodes to U+FFFD is part of a character
    am = registry()["am_Ethi"]
    facts = coverage.inspect_tokenizer(tok)
    units = segment.units(am.sample)[1]
    ids = [tok(u, add_special_tokens=False)["input_ids"] for u in units]
    partial = sum("\ufffd" in tok.decode([i]) for x in ids for i in x)
    assert _row(result, "am_Ethi")["byte_rate"] == pytest.approx(partial / sum(map(len, ids)), abs=1e-4)
    assert _row(result, "am_Ethi")["byte_rate"] > 0.9
    assert _row(result, "am_Ethi")["exemplar_coverage"] == 0.0
    assert facts.byte_ids.sum() > 0


def test_a_wordpiece_without_a_script_gives_unk_rate_one_for_that_script(latin_wordpiece):
    by_script = {"Cyrl": ["ru", "uk", "bg", "sr", "kk"], "Ethi": ["am", "ti"], "Deva": ["hi", "mr", "ne"], "Arab": ["ar", "fa", "ur"],
                 "Hans": ["zh_Hans"], "Grek": ["el"], "Thai": ["th"]}
    codes = [c for cs in by_script.values() for c in cs] + ["en"]
    result = TokenizerCoverageProbe(languages=codes, frequent_words=0).measure(latin_wordpiece)
    rows = [r for r in result.tables["languages"] if r["words"] > 0]
    for script in by_script:
        of_script = [r for r in rows if r["script"] == script]
        assert of_script, script
        assert all(r["unk_rate"] == 1.0 for r in of_script), [(r["code"], r["unk_rate"]) for r in of_script if r["unk_rate"] < 1]
        assert all(r["exemplar_coverage"] in (None, 0.0) for r in of_script)
    assert _row(result, ENGLISH)["unk_rate"] < 0.5


def test_normalizer_losses_match_unicode_data_for_an_accent_stripping_tokenizer():
    """MiniLM lower-cases and strips accents (NFD, then drops Mn): a character is lost when it is only Mn marks."""
    from audit.testing import minilm_tokenizer

    tok = minilm_tokenizer()
    lost, changed = coverage.normalizer_effects(tok, ["é", "\u0301", "A", "a", "ि", "ं"])
    assert lost.tolist() == [False, True, False, False, False, True]
    assert changed.tolist() == [True, False, False, False, False, False]
    hindi = registry()["hi_Deva"].sample
    chars = [c for c in hindi if not c.isspace()]
    by_hand = np.mean([all(unicodedata.category(x) == "Mn" for x in unicodedata.normalize("NFD", c)) for c in chars])
    result = TokenizerCoverageProbe(languages=["hi"], frequent_words=0).measure(tok)
    assert _row(result, "hi_Deva")["chars_lost"] == pytest.approx(by_hand, abs=1e-4)


def test_ratio_interval_agrees_with_a_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(1, 6, size=400).astype(float)
    x = y * 2 + rng.integers(0, 3, size=400)
    r, lo, hi = coverage.ratio_ci(x, y)
    idx = rng.integers(0, 400, size=(4000, 400))
    boot = x[idx].sum(1) / y[idx].sum(1)
    assert r == pytest.approx(x.sum() / y.sum())
    assert lo == pytest.approx(np.quantile(boot, 0.025), abs=0.01)
    assert hi == pytest.approx(np.quantile(boot, 0.975), abs=0.01)


def test_default_model_tokenizer_over_every_language(default_model):
    probe = TokenizerCoverageProbe(thresholds=[Threshold("max_unk_rate", 0.5), Threshold("max_premium", 100.0)])
    result = probe.run(default_model)
    rows = result.tables["languages"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 700
    assert _row(result, ENGLISH)["premium"] == 1.0
    assert _row(result, "am_Ethi")["unk_rate"] == 1.0  # MiniLM's vocabulary has no Ethiopic
    assert _row(result, "fr_Latn")["unk_rate"] == 0.0
    assert _row(result, "ru_Cyrl")["premium"] > 2.0  # Cyrillic splits into many pieces in an English vocabulary
    mostly = result.metric("languages_mostly_unk")
    assert mostly.value == sum(r["unk_rate"] > 0.5 for r in ok)
    assert f"{int(mostly.value)} of {len(ok)} languages" in result.headline
    gates = {g.metric: g.status for g in result.gates}
    assert gates == {"max_unk_rate": "fail", "max_premium": "pass"}
    assert {c.kind for c in result.charts} == {"bar", "scatter"}
    assert len(result.cases) == 8 and all(c.meta["language"] for c in result.cases)  # capped when max_cases is not given
    little = [r for r in rows if r["status"] != "ok"]
    assert little and all("too little text" in r["status"] for r in little)
    assert any("too little text" in w for w in result.warnings)
    assert math.isclose(sum(t["languages"] for t in result.tables["by_tier"]), len(ok))


def test_named_languages_get_their_own_gateable_metrics_and_short_text_is_reported(default_model):
    short = next(r.code for r in registry().values() if r.sample and 0 < len(segment.units(r.sample)[1]) < 10)
    result = TokenizerCoverageProbe(languages=["yo", "am", short], frequent_words=0,
                                    thresholds=[Threshold("unk_rate", 0.5)]).run(default_model)
    assert {m.group for m in result.metrics if m.name == "unk_rate"} == {"yo_Latn", "am_Ethi", short}
    status = {g.metric: g.status for g in result.gates}
    assert status["unk_rate[yo_Latn]"] == "pass" and status["unk_rate[am_Ethi]"] == "fail"
    assert status[f"unk_rate[{short}]"] == "inconclusive"  # fewer words than the gate's min_n: too few to decide
    assert "too little text" in _row(result, short)["status"]


@pytest.mark.parametrize("params, message", [
    ({"languages": ["yoruba_Latn"]}, "unknown language code"),
    ({"languages": "yo"}, "must be a list"),
    ({"languages": []}, "is empty"),
    ({"min_words": 0}, "min_words"),
])
def test_bad_parameters_are_one_line_errors(default_model, params, message):
    with pytest.raises(AuditError, match=message):
        TokenizerCoverageProbe(**params).validate(default_model)
