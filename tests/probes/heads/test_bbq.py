"""bias.qa_bbq: bias scores computed by hand on constructed models whose choices are known."""
from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditError
from audit.tasks.question_answering import QuestionAnswering
from probes.heads.bbq import TEMPLATES, QABiasProbe, build_examples


class ScriptedQA(QuestionAnswering):
    """A transparent QA adapter: real tokenizer and engine, but span scores set by a rule on the text.

    ``rule(question, candidates) -> index`` names the candidate that gets score 0; the others get -5.
    """

    def __init__(self, base: QuestionAnswering, rule) -> None:
        super().__init__(base.model, base.tokenizer, base.info, base.engine)
        self.rule = rule

    def span_scores(self, questions, contexts, candidates):
        out = np.full((len(questions), len(candidates[0])), -5.0)
        for r, (q, cands) in enumerate(zip(questions, candidates)):
            out[r, self.rule(q, cands)] = 0.0
        return out


STEREOTYPED_FOR = {}
for t in TEMPLATES:
    for x, y in t.pairs:
        STEREOTYPED_FOR.setdefault(t.negative, set()).add(x)
        STEREOTYPED_FOR.setdefault(t.non_negative, set()).add(y)


def always_stereotype(question, cands):
    return next(i for i, c in enumerate(cands) if c in STEREOTYPED_FOR[question])


def test_always_stereotyped_model_scores_by_hand(head_model):
    model = ScriptedQA(head_model("bert-qa"), always_stereotype)
    r = QABiasProbe().run(model)
    for axis in ["gender", "age", "disability", "socioeconomic", ""]:
        # ambiguous: never "unknown" → accuracy 0; every named answer stereotyped → s_DIS 1, s_AMB (1−0)·1 = 1
        assert r.metric("accuracy_ambiguous", axis).value == 0.0
        assert r.metric("bias_score_ambiguous", axis).value == pytest.approx(1.0)
        # disambiguated: right exactly when the facts agree with the stereotype, half the examples
        assert r.metric("accuracy_disambiguated", axis).value == pytest.approx(0.5)
        assert r.metric("bias_score_disambiguated", axis).value == pytest.approx(1.0)
    n_amb = sum(1 for e in build_examples() if e.kind == "ambiguous")
    assert r.metric("bias_score_ambiguous").n == n_amb == 64
    assert r.metric("bias_score_ambiguous").p_value < 1e-6
    statuses = {g.metric: g.status for g in r.gates}
    assert statuses["bias_score_ambiguous"] == "fail" and statuses["bias_score_ambiguous[gender]"] == "fail"
    assert r.cases and all(c.target in STEREOTYPED_FOR[c.meta["question"]] for c in r.cases)


def test_unknown_and_anti_stereotyped_models(head_model):
    unknown = QABiasProbe(axes=["gender"]).run(ScriptedQA(head_model("bert-qa"), lambda q, c: c.index("")))
    assert unknown.metric("accuracy_ambiguous", "gender").value == 1.0
    assert unknown.metric("bias_score_ambiguous", "gender").value == 0.0
    assert unknown.metric("accuracy_disambiguated", "gender").value == 0.0
    assert unknown.metric("bias_score_disambiguated", "gender").value is None  # nobody named: undefined
    anti = QABiasProbe(axes=["age"]).run(ScriptedQA(head_model("bert-qa"), lambda q, c: 1 - always_stereotype(q, c)))
    assert anti.metric("bias_score_ambiguous", "age").value == pytest.approx(-1.0)
    assert anti.metric("bias_score_disambiguated", "age").value == pytest.approx(-1.0)


def test_mixed_choices_match_the_bbq_formulas(head_model):
    """A model that is stereotyped on negative questions and says 'unknown' on the others."""
    rule = lambda q, c: always_stereotype(q, c) if any(q == t.negative for t in TEMPLATES) else c.index("")  # noqa: E731
    r = QABiasProbe().run(ScriptedQA(head_model("bert-qa"), rule))
    # ambiguous: half unknown (accuracy 0.5), every named answer stereotyped: s_DIS = 1 → s_AMB = 0.5 · 1
    assert r.metric("accuracy_ambiguous").value == pytest.approx(0.5)
    assert r.metric("bias_score_ambiguous").value == pytest.approx(0.5)
    # disambiguated: negative questions right half the time, non-negative never (answered unknown) → 0.25
    assert r.metric("accuracy_disambiguated").value == pytest.approx(0.25)


def test_real_tiny_model_and_bad_parameters(head_model):
    m = head_model("bert-qa")
    r = QABiasProbe(axes=["age"], max_cases=20).run(m)
    row = r.tables["by_axis"][0]
    assert row["stereotyped"] + row["anti_stereotyped"] + row["unknown"] == row["n"]
    assert sum(x["n"] for x in r.tables["by_axis"] if x["axis"] == "all") == 20
    with pytest.raises(AuditError, match="unknown BBQ axis"):
        QABiasProbe(axes=["gendr"]).run(m)
    with pytest.raises(AuditError, match="needs a model that offers qa"):
        QABiasProbe().run(head_model("t5"))
