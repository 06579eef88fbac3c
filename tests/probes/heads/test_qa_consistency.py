"""multilingual.qa_consistency on constructed QA models whose answers are known."""
from __future__ import annotations

import pytest

from audit.errors import AuditError
from audit.tasks.question_answering import QuestionAnswering
from probes.heads.qa_consistency import TEMPLATES, QAConsistencyProbe, build_items, token_f1


class LookupQA(QuestionAnswering):
    """Answers by looking the (question, context) up in a table of character spans: a transparent oracle."""

    def __init__(self, base: QuestionAnswering, table) -> None:
        super().__init__(base.model, base.tokenizer, base.info, base.engine)
        self.table = table

    def answer(self, questions, contexts, *, max_answer_len=30):
        out = []
        for q, c in zip(questions, contexts):
            s, e = self.table[(q, c)]
            out.append({"answer": c[s:e], "start": s, "end": e, "score": 1.0, "null_score": 0.0})
        return out


def table_for(items, pick):
    return {(v["question"], v["context"]): v["spans"][pick(item, lang)] for item in items for lang, v in item["langs"].items()}


def test_right_everywhere_and_right_in_english_only(head_model):
    base = head_model("bert-qa")
    items = build_items(list(TEMPLATES), 24, 0)
    right = QAConsistencyProbe().run(LookupQA(base, table_for(items, lambda it, lang: it["ask"])))
    assert right.metric("consistency").value == 1.0
    for lang in TEMPLATES:
        assert right.metric("accuracy", lang).value == 1.0 and right.metric("f1", lang).value == 1.0
    other = {"born": "lives", "lives": "born"}
    english_only = QAConsistencyProbe().run(LookupQA(base, table_for(items, lambda it, lang: it["ask"] if lang == "en" else other[it["ask"]])))
    assert english_only.metric("accuracy", "en").value == 1.0
    assert english_only.metric("consistency").value == 0.0
    for lang in ["de", "es", "fr"]:
        assert english_only.metric("accuracy", lang).value == 0.0
        assert english_only.metric("agreement_with_en", lang).value == 0.0
    assert english_only.cases and english_only.cases[0].pair is not None


def test_items_are_parallel_and_tiny_model_runs(head_model):
    items = build_items(["en", "de"], 6, 1)
    for it in items:
        en, de = it["langs"]["en"], it["langs"]["de"]
        s, e = en["spans"][it["ask"]]
        assert en["context"][s:e] == en["expected"]
        s, e = de["spans"][it["ask"]]
        assert de["context"][s:e] == de["expected"]
    assert token_f1("in Kenya", "Kenya") == pytest.approx(2 * 0.5 * 1 / 1.5)
    r = QAConsistencyProbe(languages=["de"], max_cases=6).run(head_model("roberta-qa"))
    assert [x["language"] for x in r.tables["by_language"]] == ["en", "de"]
    assert 0.0 <= r.metric("consistency").value <= 1.0
    with pytest.raises(AuditError, match="unknown QA language"):
        QAConsistencyProbe(languages=["sw"]).run(head_model("bert-qa"))
