"""bias.counterfactual against classifiers whose behaviour is known by construction.

The oracle models are subclasses of the real ``TextClassifier`` adapter (wrapping a tiny random BERT that
they never call) whose ``class_probs`` is a transparent function of the text: P(LABEL_1) is 0.4, plus 0.3
when the sentence holds a joy word, plus ``bump`` when it holds the trigger word. So the identity term
matters exactly when it contains the trigger.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from audit.errors import AuditError
from audit.tasks.text_classification import TextClassifier
from probes.bias.counterfactual import CounterfactualProbe

JOY = {"ecstatic", "excited", "glad", "happy", "relieved"}


class KeywordClassifier(TextClassifier):
    trigger: str | None = None
    bump = 0.0

    def class_probs(self, texts, strategy="truncate"):
        out = []
        for t in texts:
            words = {w.strip(".,").lower() for w in t.split()}
            p = 0.4 + 0.3 * bool(words & JOY) + (self.bump if self.trigger in words else 0.0)
            out.append([1.0 - p, p])
        return np.asarray(out)


def keyword_model(tiny, trigger=None, bump=0.0):
    m = KeywordClassifier(tiny.model, tiny.tokenizer, tiny.info, tiny.engine)
    m.trigger, m.bump = trigger, bump
    return m


def test_a_classifier_that_ignores_identity_shows_no_gap_and_no_significant_test(tiny_classifier):
    r = CounterfactualProbe(axes=["gender", "religion"], cases_per_axis=None).run(keyword_model(tiny_classifier))
    for m in r.metrics:
        if m.name in ("max_gap", "flip_rate", "score_dev", "score_range", "paired_gap"):
            assert m.value == pytest.approx(0.0, abs=1e-12), m.key
    assert all(not t["significant"] and t["q"] == 1.0 for t in r.tables["tests"])
    assert all(g.status == "pass" for g in r.gates)


def test_a_classifier_that_reacts_to_a_term_shows_that_gap_in_the_right_direction(tiny_classifier):
    r = CounterfactualProbe(axes=["religion"], cases_per_axis=None).run(keyword_model(tiny_classifier, "muslim", 0.2))
    axis = r.tables["axes"][0]
    assert (axis["higher_group"], axis["max_gap"]) == ("Muslim", pytest.approx(0.2))
    tests = {t["group"]: t for t in r.tables["tests"]}
    assert tests["Muslim"]["versus"] == "Christian"
    assert tests["Muslim"]["mean_diff"] == pytest.approx(0.2) and tests["Muslim"]["q"] < 0.05
    assert all(t["q"] == 1.0 for g, t in tests.items() if g != "Muslim")
    means = {g["group"]: g["mean"] for g in r.tables["groups"]}
    assert means["Muslim"] - means["Christian"] == pytest.approx(0.2, abs=1e-3)
    # the score crosses 0.5 only without a joy word: 102 of the 132 frames; 54 of the 189 cross-group
    # term pairs involve a Muslim term (7 groups × 3 terms)
    assert axis["n_frames"] == 132
    assert r.metric("flip_rate", "religion").value == pytest.approx(102 / 132 * 54 / 189)
    top = r.cases[0]
    assert "muslim" in top.text.lower() and "muslim" not in top.pair.lower() and top.score == pytest.approx(0.2)
    gate = next(g for g in r.gates if g.metric == "max_gap[religion]")
    assert gate.status == "fail"


def test_tiny_bert_classifier_gives_a_complete_serialisable_result(tiny_classifier):
    r = CounterfactualProbe(axes=["gender", "nationality"], max_cases=40, template_kinds=["neutral"]).run(tiny_classifier)
    assert r.params["target"] is None and r.tables["tests"][0]["test"] == "permutation"
    assert [c.title for c in r.charts] == ["gender: mean P(LABEL_1) per group", "nationality: mean P(LABEL_1) per group"]
    for row in r.tables["groups"]:
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    nationality = r.tables["axes"][1]
    assert nationality["tests"] == 45  # no reference group: every pair of the 10 countries
    for case in r.cases:
        assert case.pair and case.pair != case.text and case.meta["group"] != case.meta["pair_group"]
        assert case.score >= 0
    json.dumps(r.tables, allow_nan=False)  # tables are plain data
    assert r.gates and all(g.metric.startswith("max_gap[") for g in r.gates)


def test_too_few_frames_is_a_warning(tiny_classifier, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text("replace_templates: true\ntemplates:\n  neutral: ['{person} is here.', 'I saw {person}.']\n",
                   encoding="utf-8")
    r = CounterfactualProbe(axes=["age"], lexicon_file=str(own)).run(keyword_model(tiny_classifier))
    assert r.tables["axes"][0]["n_frames"] == 2
    assert "too few" in r.warnings[0]
    # without joy words the keyword model's score is 0.4 for every sentence: it barely reacts, and says so
    assert len(r.warnings) == 2 and "the model barely reacts to its input" in r.warnings[1]


def test_bad_parameters_are_user_errors(tiny_classifier, default_model, tmp_path):
    with pytest.raises(AuditError, match="did you mean 'positive'"):
        CounterfactualProbe(target="positve").run(default_model)
    with pytest.raises(AuditError, match="LABEL_1"):
        CounterfactualProbe(target="LABEL_7").run(tiny_classifier)
    with pytest.raises(AuditError, match="paired test"):
        CounterfactualProbe(test="t-test").run(tiny_classifier)
    bad = tmp_path / "axes.yaml"
    bad.write_text("templates:\n  neutral: ['{person} likes {colour}.']\n", encoding="utf-8")
    with pytest.raises(AuditError, match="unknown slot"):
        CounterfactualProbe(lexicon_file=str(bad)).run(tiny_classifier)


def test_default_cap_holds_when_the_runner_passes_max_cases_none(tiny_classifier):
    r = CounterfactualProbe(axes=["religion"], max_cases=None).run(keyword_model(tiny_classifier))
    axis = r.tables["axes"][0]
    assert axis["n_texts"] <= 320 and axis["n_frames"] == 320 // 21


def test_telling_cases_compare_like_for_like_terms(tiny_classifier):
    r = CounterfactualProbe(axes=["religion", "age"], template_kinds=["emotion"]).run(tiny_classifier)
    assert len(r.cases) == 4
    for case in r.cases:  # "A Muslim woman feels sad." is paired with "A Christian woman feels sad."
        nouns = [w for w in case.text.lower().split() if w in ("person", "woman", "man")]
        assert nouns and nouns == [w for w in case.pair.lower().split() if w in ("person", "woman", "man")]


def test_largest_gap_carries_the_q_value_of_its_pair(tiny_classifier):
    r = CounterfactualProbe(axes=["religion"], cases_per_axis=None).run(keyword_model(tiny_classifier, "muslim", 0.2))
    muslim = next(t for t in r.tables["tests"] if t["group"] == "Muslim")
    assert r.metric("max_gap", "religion").p_value == muslim["q"] < 0.05


class HashClassifier(TextClassifier):
    """P(LABEL_1) a fixed pseudo-random function of the whole text, so every term pair has some gap."""

    def class_probs(self, texts, strategy="truncate"):
        import zlib

        p = np.array([0.05 + 0.9 * (zlib.crc32(t.encode()) % 1000) / 1000 for t in texts])
        return np.stack([1 - p, p], axis=1)


LIKE_FOR_LIKE_GENDER = [  # written out by hand: the roles a pair may span
    {"this woman", "this man", "this nonbinary person", "this agender person"},
    {"my mother", "my father", "my genderqueer parent"}, {"my sister", "my brother", "my nonbinary sibling"},
    {"my daughter", "my son", "my genderfluid child"}, {"my aunt", "my uncle"}, {"the girl", "the boy", "the enby kid"},
]
FEMALE_NAMES = {"Amanda", "Betsy", "Courtney", "Ellen", "Heather", "Katie", "Kristin", "Melanie", "Nancy", "Stephanie",
                "Ebony", "Jasmine", "Lakisha", "Latisha", "Latoya", "Nichelle", "Shaniqua", "Shereen", "Tanisha", "Tia"}


def test_every_shown_pair_differs_only_in_the_identity_term(tiny_classifier):
    """Rebuilt from the frame: outside the identity slots the two texts are the same words; inside, the terms are
    like for like (hand-written roles for gender, same gender of name, same noun after a descriptor, same
    pattern for countries), or the reason says what else differs."""
    from probes.bias.lexicon import IDENTITY_SLOTS, load_lexicon

    model = HashClassifier(tiny_classifier.model, tiny_classifier.tokenizer, tiny_classifier.info, tiny_classifier.engine)
    r = CounterfactualProbe(cases_per_axis=60).run(model)
    lex = load_lexicon()
    assert {c.meta["axis"] for c in r.cases} == set(lex.axes)
    for case in r.cases:
        axis = lex.axes[case.meta["axis"]]
        terms = {t.label: t for _, t in axis.terms}
        for text, label in ((case.text, case.meta["term"]), (case.pair, case.meta["pair_term"])):
            rebuilt = case.meta["template"]
            for slot in IDENTITY_SLOTS:
                rebuilt = rebuilt.replace("{" + slot + "}", terms[label].forms.get(slot, ""))
            for slot, word in case.meta["fillers"].items():
                rebuilt = rebuilt.replace("{" + slot + "}", word)
            assert text == rebuilt[:1].upper() + rebuilt[1:]
        a, b = case.meta["term"], case.meta["pair_term"]
        name = case.meta["axis"]
        if name == "gender":
            assert any({a, b} <= roles for roles in LIKE_FOR_LIKE_GENDER), (a, b)
        elif name == "race_names":
            assert (a in FEMALE_NAMES) == (b in FEMALE_NAMES), (a, b)
        elif name == "nationality":
            assert a.split()[:3] == b.split()[:3], (a, b)  # "a person from …" with "a person from …"
        elif name == "name_origin":
            assert not case.meta["minimal_pair"] and "not matched like for like" in case.reason
            continue
        else:
            assert a.split()[-1] == b.split()[-1], (a, b)  # "a blind woman" with "a deaf woman"
        assert case.meta["minimal_pair"] and "a minimal pair" in case.reason and "only the identity" not in case.reason
