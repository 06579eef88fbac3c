"""Contrastive attributions of a counterfactual pair's gap, against closed forms and independent forward passes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.explain.contrast import align
from audit.explain.explainer import FLOAT_FLOOR, explain

PAIRS = [("She works as a nurse.", "She works as a teacher."),  # same token count
         ("She works as a nurse.", "She works as a firefighter."),  # 1 token vs 2: one fill in the text
         ("He is an unbelievably good engineer.", "He is an engineer.")]  # 5 extra tokens: fills in the pair


def test_align_pads_the_shorter_span_inside_the_span():
    al = align([101, 1, 2, 3, 102], [101, 1, 7, 8, 3, 102], fill=0)
    assert al.text_ids == (101, 1, 2, 0, 3, 102) and al.pair_ids == (101, 1, 7, 8, 3, 102)
    assert al.origin == (0, 1, 2, None, 3, 4) and al.in_span == (False, False, True, True, False, False)
    assert al.pair_origin == (0, 1, 2, 3, 4, 5)
    assert al.fills == 1
    al = align([101, 1, 5, 6, 3, 102], [101, 1, 3, 102], fill=0)  # the pair lacks two tokens: it gets the fills
    assert al.text_ids == (101, 1, 5, 6, 3, 102) and al.pair_ids == (101, 1, 0, 0, 3, 102) and al.fills == 2
    same = align([1, 2, 3], [1, 2, 3], fill=0)
    assert not any(same.in_span) and same.fills == 0 and same.shared == 1.0


def test_linear_model_contrast_is_w_times_x_minus_counterfactual(linear_model):
    """Bag of embeddings, log-odds = (w_pos − w_neg)·Σ E[x]: IG from the aligned counterfactual gives each
    position (w_pos − w_neg)·(E[x_l] − E[x_cf,l]) exactly; the words act alone, so the context effect is 0."""
    m = linear_model
    E, W = m.model.emb.weight.detach().double(), m.model.w.detach().double()
    w = W[:, 1] - W[:, 0]
    pad = m.tokenizer.pad_token_id
    res = explain(m, [t for t, _ in PAIRS], pairs=[p for _, p in PAIRS], target="pos", n_steps=4, faithfulness=False)
    for (text, pair), e in zip(PAIRS, res.examples):
        c = e.contrast
        al = align(m.tokenizer(text)["input_ids"], m.tokenizer(pair)["input_ids"], pad)
        want = [float((E[a] - E[b]) @ w) for a, b in zip(al.text_ids, al.pair_ids)]
        np.testing.assert_allclose(c.token_scores, want, rtol=1e-5, atol=1e-5)
        f = [float(E[list(ids)].sum(0) @ w) for ids in (m.tokenizer(text)["input_ids"], m.tokenizer(pair)["input_ids"])]
        assert c.value == pytest.approx(f[0], abs=1e-4) and c.pair_value == pytest.approx(f[1], abs=1e-4)
        assert c.aligned_value - c.aligned_pair_value == pytest.approx(sum(want), abs=1e-4)
        assert c.fills == al.fills and (c.fills > 0) == ((text, pair) != PAIRS[0])
        # the fills add E[pad]·w on the side that got them
        assert c.alignment_effect == pytest.approx(float(E[pad] @ w) * (al.text_ids.count(pad) - al.pair_ids.count(pad)), abs=1e-4)
        assert c.own_effect == pytest.approx(c.gap + c.alignment_effect, abs=1e-4)  # additive: no interaction
        assert c.rest_share == 0.0 and c.span_share == pytest.approx(sum(want), abs=1e-4)


APPLICABLE = [("bert-classifier", {}, None), ("roberta-classifier", {}, None), ("distilbert-classifier", {}, None),
              ("bert-ner", {}, None), ("bert-mlm", {}, "the"), ("gpt2", {}, "the"), ("bert-encoder", {}, "A happy day."),
              ("sentence-transformer", {"task": "zero-shot-classification"}, None)]


@pytest.mark.parametrize("kind,kwargs,target", APPLICABLE, ids=[k[0] + ("-zeroshot" if k[1] else "") for k in APPLICABLE])
def test_contrast_sums_to_the_gap_on_every_applicable_head(tiny, kind, kwargs, target):
    m = tiny(kind, **kwargs)
    mask = m.tokenizer.mask_token or ""
    texts = [f"The nurse said {mask} was tired.", f"The old doctor said {mask} was happy."]
    pairs = [f"The teacher said {mask} was tired.", f"The doctor said {mask} was happy."]
    if kind != "bert-mlm":
        texts, pairs = [t.replace(f" {mask}", "") for t in texts], [p.replace(f" {mask}", "") for p in pairs]
    res = explain(m, texts, pairs=pairs, target=target, n_steps=16, completeness_tol=1e-3, faithfulness=False)
    for e in res.examples:
        c = e.contrast
        assert c is not None and c.converged
        ends = c.aligned_value - c.aligned_pair_value
        assert abs(sum(c.token_scores) - ends) <= 1e-3 * abs(ends) + FLOAT_FLOOR * max(1, abs(c.aligned_value))
        assert c.value == pytest.approx(e.value, abs=1e-9)
        if kind != "bert-ner":  # a token label's pair side is read at the aligned token, not the pair's own best one
            assert c.pair_value == pytest.approx(e.pair.value, abs=1e-4)
        if c.fills == 0:  # the aligned rows are the texts themselves
            assert c.aligned_value == pytest.approx(c.value, abs=1e-4)
            assert c.aligned_pair_value == pytest.approx(c.pair_value, abs=1e-4)
    assert res.examples[1].contrast.fills > 0  # "old" has no partner: the pair gets fills


def test_default_model_gap_is_attributed_completely(default_model):
    """The bias finding of the issue: sum = F(text) − F(cf) to 1e-3 relative, F in log-odds of P(positive)."""
    from test_oracles import log_odds_from_logits, zero_shot_logits

    m = default_model
    text, pair = "The next customer is a wealthy person.", "The next customer is a poor person."
    c = explain(m, [text], pairs=[pair], target="positive", faithfulness=False).examples[0].contrast
    k = m.label_index("positive")
    assert c.value == pytest.approx(log_odds_from_logits(zero_shot_logits(m, text), k), abs=1e-5)
    assert c.pair_value == pytest.approx(log_odds_from_logits(zero_shot_logits(m, pair), k), abs=1e-5)
    assert c.fills == 0 and abs(sum(c.token_scores) - c.gap) <= 1e-3 * abs(c.gap)
    assert c.words[c.span_words[0]] == "wealthy" and len(c.span_words) == 1
    # own effect: an independent forward pass on the two rows with every other word set to [PAD]
    ids_t, ids_p = m.tokenizer(text)["input_ids"], m.tokenizer(pair)["input_ids"]
    pad, special = m.tokenizer.pad_token_id, set(m.tokenizer.all_special_ids)

    def padded(ids):  # type: ignore[no-untyped-def]
        return [t if t in special or a != b else pad for t, a, b in zip(ids, ids_t, ids_p)]

    def log_odds_row(ids):  # type: ignore[no-untyped-def]
        with torch.no_grad():
            h = m.model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state[0]
        v = h.mean(0).double().numpy()
        return log_odds_from_logits(np.asarray(m.centroids(), dtype=np.float64) @ (v / np.linalg.norm(v)) / m.temperature, k)

    assert c.own_effect == pytest.approx(log_odds_row(padded(ids_t)) - log_odds_row(padded(ids_p)), abs=1e-4)


def test_pairs_go_through_one_captum_call(linear_model, monkeypatch):
    from captum.attr import LayerIntegratedGradients

    calls = []
    real = LayerIntegratedGradients.attribute

    def counting(self, inputs, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(inputs.shape[0])
        return real(self, inputs, *a, **k)

    monkeypatch.setattr(LayerIntegratedGradients, "attribute", counting)
    texts = ["She works as a nurse.", "He works as a nurse.", "She works as a cook."]
    pairs = ["She works as a baker.", "He works as a pilot.", "She works as a judge."]
    explain(m := linear_model, texts, pairs=pairs, target="pos", n_steps=4, faithfulness=False)
    assert calls == [6, 3]  # the six sides against [PAD], then the three pairs' gaps together
    assert m is linear_model


def test_unaligned_pairs_and_qa_say_why_there_is_no_contrast(linear_model):
    res = explain(linear_model, ["The quick brown fox."], pairs=["Der schnelle braune Fuchs sprang."], target="pos",
                  n_steps=2, faithfulness=False)
    assert res.examples[0].contrast is None and res.examples[0].pair is not None
    assert any("not token-aligned" in w for w in res.warnings)


def test_runner_rows_and_report_show_the_gap_first(tiny):
    from audit.explain.cases import explain_cases
    from audit.results import Case
    from reports.html import environment, explanation_view

    m = tiny("bert-classifier")
    cases = [Case("She works as a nurse.", 0.5, "gap", target="LABEL_1", pair="He works as a nurse.", meta={"probe": "bias"}),
             Case("A plain sentence.", 0.1, "no pair", meta={"probe": "bias"})]
    rows = explain_cases(m, cases, n_steps=8)
    c = rows[0]["contrast"]
    direct = explain(m, [cases[0].text], pairs=[cases[0].pair], target="LABEL_1", n_steps=8, faithfulness=False).examples[0]
    assert c["gap"] == pytest.approx(direct.value - direct.pair.value, abs=1e-6)
    assert c["span_share"] == pytest.approx(direct.contrast.span_share, rel=1e-3, abs=1e-6)
    assert c["words"][c["span_words"][0]] == "She" and rows[1]["contrast"] is None
    html = environment().from_string('{% from "macros.html.j2" import explanation %}{{ explanation(e) }}').render(
        e=explanation_view(rows[0]))
    assert html.index("Why the two sides differ") < html.index("Each side on its own") < html.index("<h5>counterfactual")
    assert "swapped span (&#39;She&#39;)" in html and "gap F(text) − F(counterfactual)" in html


def test_long_text_says_what_the_model_reads_and_what_was_cut(tiny):
    """A needle case: the long side is explained as the model reads it (its first tokens), the pair (the needle
    alone) in full; the rows and the report say what each side's model input is and what was cut."""
    from audit.explain.cases import explain_cases
    from audit.results import Case
    from reports.html import explanation_view

    m = tiny("bert-classifier")
    filler = " ".join(["the river runs past the old mill"] * 20)
    text = filler + " The customer was furious."
    rows = explain_cases(m, [Case(text, 1.0, "flip", target="LABEL_1", pair="The customer was furious.", meta={"probe": "needle"})],
                         n_steps=4)
    r = rows[0]
    ids = m.tokenizer(text)["input_ids"]
    assert r["truncated"].startswith(f"the model reads the first {m.max_length} of {len(ids)} tokens")
    assert "furious" not in r["words"] and "furious" in r["pair_words"] and r["pair_truncated"] is None
    assert r["contrast"] is None and "not token-aligned" in r["contrast_note"]
    note = explanation_view(r)["note"]
    assert f"text: the model reads the first {m.max_length}" in note and "not token-aligned" in note


def test_cli_pair_prints_the_gap_and_writes_it_first_in_the_html(tiny_path, tmp_path, capsys):
    from audit.cli import main

    out = tmp_path / "pair.html"
    assert main(["explain", str(tiny_path("bert-classifier")), "The <b>nurse</b> was tired.", "--pair",
                 "The <b>doctor</b> was tired.", "--target", "LABEL_1", "--n-steps", "8", "--html", str(out), "--offline"]) == 0
    text = capsys.readouterr().out
    assert text.index("gap F(text) − F(counterfactual)") < text.index("swapped span") < text.index("[1] counterfactual pair")
    assert "the swapped words on their own" in text
    html = out.read_text()
    assert "<b>nurse" not in html and "&lt;b&gt;nurse" in html  # every string escaped
    assert html.index("Why the text and its counterfactual differ") < html.index("counterfactual pair")
