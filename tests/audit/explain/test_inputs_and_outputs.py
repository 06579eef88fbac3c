"""Bad input gives one clear AuditError; cases, renderers and the CLI produce what the runner and users read."""
from __future__ import annotations

import json

import pytest

from audit.errors import AuditError
from audit.explain import explain, explain_cases, render_html, render_table
from audit.results import Case


def test_unknown_target_label_names_close_matches(tiny):
    with pytest.raises(AuditError, match=r"unknown label .*'LABEL_1'"):
        explain(tiny("bert-classifier"), ["a text"], target="LABEL_11x")


def test_empty_text_and_no_texts(tiny):
    m = tiny("bert-classifier")
    with pytest.raises(AuditError, match="text 2 is empty"):
        explain(m, ["fine", "   "])
    with pytest.raises(AuditError, match="no texts"):
        explain(m, [])


def test_unknown_method_suggests(tiny):
    with pytest.raises(AuditError, match=r"did you mean 'occlusion'"):
        explain(tiny("bert-classifier"), ["a text"], method="oclusion")


def test_text_over_the_limit_says_what_is_cut(tiny):
    m = tiny("bert-classifier")  # limit 64 tokens
    long = " ".join(f"word{i}" for i in range(80)) + " THE-END"
    with pytest.raises(AuditError, match=r"over the model's limit of 64.*would be cut.*truncate=True"):
        explain(m, [long])
    res = explain(m, [long], truncate=True, n_steps=4, completeness_tol=10, faithfulness=False)
    e = res.examples[0]
    assert len(e.tokens) == 64 and "THE-END".lower() not in " ".join(e.words).lower()
    assert e.truncated and "THE-END" in e.truncated and any("truncated" in w for w in res.warnings)


def test_masked_lm_needs_a_mask(tiny):
    with pytest.raises(AuditError, match=r"no \[MASK\]"):
        explain(tiny("bert-mlm"), ["no mask here"])


def test_token_target_position_is_checked(tiny):
    m = tiny("bert-ner")
    with pytest.raises(AuditError, match="target position @0"):
        explain(m, ["She lives in Berlin"], target="B-PER@0")  # 0 is [CLS]
    e = explain(m, ["She lives in Berlin"], target="B-LOC@4", n_steps=8, completeness_tol=10, faithfulness=False).examples[0]
    assert e.target.startswith("B-LOC@4")


def test_explain_cases_pairs_and_errors(tiny):
    m = tiny("bert-classifier")
    cases = [Case("He is a nurse.", 0.4, "gap", target="LABEL_1", pair="She is a nurse.", meta={"probe": "bias.x"}),
             Case("Plain sentence here.", 0.1, "flip"),
             Case("Bad target.", 0.2, "x", target="LABEL_9")]
    rows = explain_cases(m, cases, max_cases=8)
    assert len(rows) == 3
    first = rows[0]
    for key in ("text", "pair", "target", "method", "words", "scores", "pair_words", "pair_scores", "delta", "faithfulness"):
        assert key in first
    assert first["probe"] == "bias.x" and first["target"] == "LABEL_1" and first["pair_words"][0] == "She"
    assert len(first["scores"]) == len(first["words"]) and len(first["pair_scores"]) == len(first["pair_words"])
    assert rows[1]["pair"] is None and rows[1]["pair_scores"] is None
    assert "unknown label" in rows[2]["error"]
    json.dumps(rows, allow_nan=False)
    assert explain_cases(m, cases, max_cases=1)[0]["text"] == "He is a nurse." and len(explain_cases(m, cases, max_cases=1)) == 1


def test_renderers_escape_and_show_scores(tiny):
    m = tiny("bert-classifier")
    res = explain(m, ["<script>alert(1)</script> & ok"], pairs=["<img src=x onerror=alert(2)> fine"], n_steps=8,
                  completeness_tol=10)
    html = render_html(res)
    assert "<script>" not in html and "<img" not in html and "&lt;" in html
    table = render_table(res)
    for s in res.examples[0].scores:
        assert f"{s:+.4f}" in table
    assert "counterfactual pair" in table
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["examples"][0]["pair"]["text"].startswith("<img") and d["normalization"].startswith("none")
    a = d["examples"][0]["attributions"][0]
    assert max(abs(x) for x in a["scaled_word_scores"]) == pytest.approx(1.0)


def test_cli_explain_table_html_json_and_exit_codes(tiny_path, tmp_path, capsys):
    from audit.cli import main

    path = str(tiny_path("bert-classifier"))
    out = tmp_path / "e.html"
    assert main(["explain", path, "A wonderful day", "--n-steps", "8", "--html", str(out), "--offline"]) == 0
    assert out.read_text().startswith("<!doctype html>") and "wonderful" in capsys.readouterr().out
    assert main(["explain", path, "A wonderful day", "--n-steps", "8", "--json", "--method", "occlusion", "--offline"]) == 0
    assert json.loads(capsys.readouterr().out)["methods"] == ["occlusion"]
    assert main(["explain", path, "A day", "--method", "lim", "--offline"]) == 2
    assert "did you mean 'lime'" in capsys.readouterr().err
    assert main(["explain", path, "A day", "--target", "nope", "--offline"]) == 2
