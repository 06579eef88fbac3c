"""Explanations for the question-answering and sequence-to-sequence adapters, on tiny random models."""
from __future__ import annotations

import numpy as np
import pytest

from audit.explain.cases import explain_cases
from audit.explain.explainer import FLOAT_FLOOR, explain
from audit.loading import load
from audit.results import Case

CONTEXT = "the cat sat on the mat near the door of the house"
QUESTION = "where did the cat sit"
SOURCE = "the cat sat on the mat"
TARGET = "the dog ran"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):  # type: ignore[no-untyped-def]
    from probes.heads.tiny import build

    root = tmp_path_factory.mktemp("tiny_heads")
    paths = {k: build(k, root / k) for k in ("bert-qa", "roberta-qa", "bart", "t5")}
    return paths, {k: load(str(p), progress=False, offline=True) for k, p in paths.items()}


def _complete(e, tol=1e-3):  # type: ignore[no-untyped-def]
    a = e.attributions[0]
    gap = abs(sum(a.token_scores) - (e.value - e.baseline_value))
    scale = max(1.0, abs(e.value), abs(e.baseline_value))
    assert gap <= tol * abs(e.value - e.baseline_value) + FLOAT_FLOOR * scale, (gap, e.value, e.baseline_value)
    assert a.converged
    return gap


@pytest.mark.parametrize("kind", ["bert-qa", "roberta-qa"])
def test_qa_start_log_odds_complete_and_equal_to_adapter(tiny, kind):  # type: ignore[no-untyped-def]
    m = tiny[1][kind]
    r = explain(m, [CONTEXT], question=QUESTION, completeness_tol=1e-3)
    e = r.examples[0]
    windows = m.start_end_logits([QUESTION], [CONTEXT])[0]
    w = windows[e.prediction["window"]]
    a, z = w["ctx"]  # the adapter normalises start logits over the context tokens and CLS
    allowed = list(range(a, z)) + ([w["cls"]] if w["cls"] is not None else [])
    start = np.asarray(w["logits"][0], dtype=np.float64)
    s = e.prediction["start_token"]
    others = np.array([start[p] for p in allowed if p != s])
    assert e.value == pytest.approx(start[s] - np.log(np.exp(others).sum()), abs=1e-5)
    assert 1 / (1 + np.exp(-e.value)) == pytest.approx(e.prediction["start_prob"], abs=1e-6)
    assert e.prediction["end_logit"] == pytest.approx(float(w["logits"][1, e.prediction["end_token"]]), abs=1e-6)
    assert e.prediction["answer"] == m.answer([QUESTION], [CONTEXT])[0]["answer"]
    _complete(e)
    assert any(x.startswith("Q:") for x in e.words) and "cat" in e.words
    assert "faithfulness_skipped" in r.settings and not r.faithfulness


def test_qa_given_answer_long_context_and_cases(tiny):  # type: ignore[no-untyped-def]
    m = tiny[1]["bert-qa"]
    long_ctx = " ".join([CONTEXT] * 12)
    r = explain(m, [long_ctx], question=QUESTION, target="door", completeness_tol=1e-3)
    e = r.examples[0]
    assert e.prediction["answer"] == "door" and e.prediction["n_windows"] > 1
    assert e.truncated and "window" in e.truncated
    _complete(e)
    rows = explain_cases(m, [Case(CONTEXT, 1.0, "why", target="mat", pair="a dog sat on a rug",
                                  meta={"question": QUESTION, "pair_question": "where did the dog sit"}),
                             Case(CONTEXT, 1.0, "no question", target="mat")])
    assert rows[0]["prediction"]["answer"] == "mat" and rows[0]["pair_value"] is not None
    assert "error" in rows[1]


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_seq2seq_target_logprob_complete_and_equal_to_adapter(tiny, kind):  # type: ignore[no-untyped-def]
    m = tiny[1][kind]
    r = explain(m, [SOURCE, "a dog"], target=[TARGET, "the mat"], completeness_tol=1e-3, n_steps=200, method=["ig", "occlusion"])
    for e, t in zip(r.examples, [TARGET, "the mat"]):
        src = e.text
        assert e.value == pytest.approx(m.target_scores([src], [t])[0].total, abs=1e-4)
        _complete(e)
    assert r.faithfulness["ig"]
    assert np.isfinite(r.examples[0].attributions[1].token_scores).all()


def test_cli(tiny, capsys):  # type: ignore[no-untyped-def]
    from audit.cli import main

    paths = tiny[0]
    assert main(["explain", str(paths["bert-qa"]), CONTEXT, "--question", QUESTION, "--offline", "--n-steps", "16"]) == 0
    assert main(["explain", str(paths["t5"]), SOURCE, "--target", TARGET, "--offline", "--n-steps", "16"]) == 0
    out = capsys.readouterr().out
    assert "log-odds that the answer starts" in out and "log-probability of the target" in out
