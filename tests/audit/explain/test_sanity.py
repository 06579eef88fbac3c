"""The model-parameter randomisation check against an independent re-initialisation and captum's plain IG."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from scipy.stats import spearmanr

from audit.explain.explainer import explain
from audit.explain.render import render_table
from audit.explain.sanity import top_layer

TEXTS = ["Numbers like 12345 appear in documents.", "She works as a nurse and he works as an engineer.",
         "A wonderful, happy day by the sea."]


def test_rho_matches_an_independent_reinitialisation(tiny):
    m = tiny("bert-classifier")
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    res = explain(m, TEXTS, target=1, n_steps=20, completeness_tol=1.0, faithfulness=False, randomisation_check=True, seed=3)
    r = res.randomisation
    assert r["layer"] == "classifier" and r["method"] == "ig"
    assert all(torch.equal(before[k], v) for k, v in m.model.state_dict().items())  # the audited model is untouched

    rand = copy.deepcopy(m.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        rand.classifier.reset_parameters()
    emb = rand.get_input_embeddings()
    special = set(m.tokenizer.all_special_ids) - {m.tokenizer.unk_token_id}
    for k, (text, e) in enumerate(zip(TEXTS, res.examples)):
        ids = torch.tensor([m.tokenizer(text)["input_ids"]])
        base = torch.tensor([[t if t in special else m.tokenizer.pad_token_id for t in ids[0].tolist()]])
        mask = torch.ones_like(ids)

        def f(x, mask=mask):  # type: ignore[no-untyped-def]
            z = rand(inputs_embeds=x, attention_mask=mask.expand(x.shape[0], -1)).logits
            return z[:, 1] - z[:, 0]

        attr = IntegratedGradients(f).attribute(emb(ids).detach(), baselines=emb(base).detach(), n_steps=20,
                                                method="gausslegendre").sum(-1)[0].detach().numpy()
        words = [sum(attr[p] for p, w in enumerate(e.word_of_token) if w == i) for i in range(len(e.words))]
        np.testing.assert_allclose(r["randomised_word_scores"][k], words, rtol=1e-3, atol=1e-5)
        assert r["spearman"][k] == pytest.approx(spearmanr(e.scores, words).statistic, abs=1e-6)
    assert r["mean"] == pytest.approx(np.mean(r["spearman"]), abs=1e-12)
    assert "randomisation check (ig; classifier re-initialised" in render_table(res)


@pytest.mark.parametrize("kind,kwargs,name", [("sentence-transformer", {"task": "zero-shot-classification"}, "encoder.layer."),
                                               ("gpt2", {}, "transformer.h."), ("bert-ner", {}, "classifier")])
def test_top_layer_skips_heads_tied_to_the_embeddings(tiny, kind, kwargs, name):
    m = tiny(kind, **kwargs)
    got, modules = top_layer(m.model)
    assert got.startswith(name) and modules
