"""Attributions against independent oracles: closed forms, completeness, and captum's plain IG."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from audit.explain import explain

from conftest import LinearOverEmbeddings, wrap


def log_odds_from_logits(z, k: int) -> float:  # type: ignore[no-untyped-def]
    """log P(k) − log(1 − P(k)) under softmax(z), in float64 from an independent forward pass."""
    z = np.asarray(z, dtype=np.float64)
    others = np.delete(z, k)
    return float(z[k] - (others.max() + np.log(np.exp(others - others.max()).sum())))


def zero_shot_logits(m, text: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    v = np.asarray(m.embed([text])[0], dtype=np.float64)
    return np.asarray(m.centroids(), dtype=np.float64) @ (v / np.linalg.norm(v)) / m.temperature


TEXTS = ["The quick brown fox jumps over the lazy dog.", "She works as a nurse.", "A wonderful, happy day; unbelievably good."]


def test_linear_model_ig_is_w_times_x_minus_baseline(linear_model):
    m = linear_model
    pad = m.tokenizer.pad_token_id
    for steps in (1, 7):
        res = explain(m, TEXTS, target="pos", n_steps=steps, faithfulness=False)
        for text, e in zip(TEXTS, res.examples):
            ids = m.tokenizer(text)["input_ids"]
            special = set(m.tokenizer.all_special_ids)
            E, w = m.model.emb.weight.detach(), m.model.w.detach()[:, 1] - m.model.w.detach()[:, 0]  # log-odds margin
            want = [float((E[t] - E[t if t in special else pad]) @ w) for t in ids]
            np.testing.assert_allclose(e.token_scores, want, rtol=1e-5, atol=1e-5)
            assert e.attributions[0].n_steps == steps and e.attributions[0].converged


def test_linear_model_faithfulness_matches_hand_computation(linear_model):
    """Deleting words from a bag-of-embeddings model removes exactly their terms E[x]·w."""
    m = linear_model
    e = explain(m, [TEXTS[0]], target="pos", n_steps=1).examples[0]
    w = m.model.w.detach()[:, 1] - m.model.w.detach()[:, 0]
    E = m.model.emb.weight.detach()
    contrib = np.array([sum(float(E[e_id] @ w) for p, e_id in enumerate(m.tokenizer(TEXTS[0])["input_ids"])
                            if e.word_of_token[p] == k) for k in range(len(e.words))])
    order = np.argsort(-np.asarray(e.scores), kind="stable")
    f = e.attributions[0].faithfulness
    for k in (1, 5, 10, 20, 50):
        n = max(1, int(np.ceil(k / 100 * len(e.words))))
        assert f["comprehensiveness"][str(k)] == pytest.approx(contrib[order[:n]].sum(), abs=1e-4)
        assert f["sufficiency"][str(k)] == pytest.approx(contrib[order[n:]].sum(), abs=1e-4)
    assert f["deletion_curve"][0][1] == pytest.approx(e.value, abs=1e-5)


@pytest.mark.parametrize("method", ["occlusion", "ablation"])
def test_model_reading_only_token_k_gets_all_the_mass(minilm_tok, method):
    k = 3
    m = wrap(LinearOverEmbeddings(len(minilm_tok), only=k, seed=1), minilm_tok)
    res = explain(m, ["one two three four five six", "alpha beta gamma delta"], method=method, target="pos", faithfulness=False)
    for e in res.examples:
        scores = np.asarray(e.token_scores)
        assert abs(scores[k]) > 1e-3
        assert np.allclose(np.delete(scores, k), 0.0, atol=1e-6)
        assert e.scores[e.word_of_token[k]] == pytest.approx(scores[k], rel=1e-6)


KINDS = [("bert-classifier", {}, None, "Die Katze schläft auf dem Sofa."),
         ("roberta-classifier", {}, None, "The quick brown fox jumps."),
         ("distilbert-classifier", {}, None, "They visited the museum yesterday."),
         ("bert-ner", {}, None, "She works as a nurse in Berlin."),
         ("bert-mlm", {}, "the", "The [MASK] jumps over the lazy dog."),
         ("roberta-mlm", {}, None, "The quick <mask> fox."),
         ("gpt2", {}, "the", "The quick brown fox jumps over"),
         ("bert-encoder", {}, "A wonderful, happy day.", "The quick brown fox jumps."),
         ("sentence-transformer", {"task": "zero-shot-classification"}, None, "A terrible, sad night.")]


@pytest.mark.parametrize("kind,kwargs,target,text", KINDS, ids=[k[0] + ("-zeroshot" if k[1] else "") for k in KINDS])
def test_completeness_on_every_head(tiny, kind, kwargs, target, text):
    """Σ attributions = F(x) − F(x′) within 1e-3 relative (n_steps raised as needed), F(x) checked against
    the adapter's own primitive where one computes the same quantity."""
    m = tiny(kind, **kwargs)
    res = explain(m, [text, text.split()[0] + " " + text], target=target, n_steps=16, completeness_tol=1e-3, faithfulness=False)
    for e in res.examples:
        a = e.attributions[0]
        gap = abs(sum(a.token_scores) - (e.value - e.baseline_value))
        floor = 1e-6 * max(1.0, abs(e.value), abs(e.baseline_value))  # float32 rounding of the two end points
        assert a.converged and gap <= 1e-3 * abs(e.value - e.baseline_value) + floor, (kind, gap, a.n_steps)
        assert sum(a.word_scores) == pytest.approx(sum(s for s, w in zip(a.token_scores, e.word_of_token) if w is not None), abs=1e-6)
    e = res.examples[0]
    if kind.endswith("classifier"):  # log-odds of P(target) from the adapter's own probabilities
        assert e.value == pytest.approx(log_odds_from_logits(m.logits([text])[0], m.label_index(e.target)), abs=1e-5)
        assert 1 / (1 + np.exp(-e.value)) == pytest.approx(e.prediction["target_prob"], abs=1e-5)
    elif kind == "bert-mlm":
        assert e.value == pytest.approx(float(m.mask_fill([text], [target])[0, 0]), abs=1e-4)
    elif kind == "gpt2":
        assert e.value == pytest.approx(float(m.next_token([text], [target])[0, 0]), abs=1e-4)
    elif kind == "bert-encoder":
        a, b = m.embed([text, target])
        assert e.value == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-4)
    elif "task" in kwargs:
        assert e.value == pytest.approx(log_odds_from_logits(zero_shot_logits(m, text), m.label_index(e.target)), abs=1e-5)
        assert 1 / (1 + np.exp(-e.value)) == pytest.approx(e.prediction["target_prob"], abs=1e-5)
        assert e.prediction["score"] == pytest.approx(float(m.class_probs([text])[0].max()), abs=1e-5)


@pytest.mark.parametrize("kind", ["bert-classifier", "roberta-classifier"])
def test_ig_equals_captum_plain_ig_on_inputs_embeds(tiny, kind):
    """One unpadded text per plain captum call (HF's own position ids) vs this module's padded batch."""
    m = tiny(kind)
    texts = ["Numbers like 12345 appear in documents.", "The dog.", "She works as a nurse and he works as an engineer."]
    res = explain(m, texts, target=1, n_steps=20, completeness_tol=1.0, faithfulness=False)
    emb = m.model.get_input_embeddings()
    special = set(m.tokenizer.all_special_ids) - {m.tokenizer.unk_token_id}
    for text, e in zip(texts, res.examples):
        ids = torch.tensor([m.tokenizer(text)["input_ids"]])
        base = torch.tensor([[t if t in special else m.tokenizer.pad_token_id for t in ids[0].tolist()]])
        mask = torch.ones_like(ids)

        def f(x, mask=mask):  # type: ignore[no-untyped-def]
            z = m.model(inputs_embeds=x, attention_mask=mask.expand(x.shape[0], -1)).logits
            return z[:, 1] - z[:, 0]  # two labels: the log-odds of label 1

        attr = IntegratedGradients(f).attribute(emb(ids).detach(), baselines=emb(base).detach(), n_steps=20,
                                                method="gausslegendre")
        np.testing.assert_allclose(e.token_scores, attr.sum(-1)[0].detach().numpy(), rtol=1e-4, atol=1e-6)


def test_subwords_merge_into_words(tiny):
    m = tiny("bert-classifier")
    e = explain(m, ["unbelievably wonderful"], n_steps=8, completeness_tol=10, faithfulness=False).examples[0]
    assert e.words == ("unbelievably", "wonderful")
    pieces = [p for p, w in enumerate(e.word_of_token) if w == 0]
    assert len(pieces) > 1
    assert e.scores[0] == pytest.approx(sum(e.token_scores[p] for p in pieces), abs=1e-9)


def test_several_methods_report_rank_agreement(tiny):
    from scipy.stats import spearmanr

    m = tiny("bert-classifier")
    res = explain(m, TEXTS, method=["ig", "gxi", "occlusion"], n_steps=8, completeness_tol=10)
    assert [ra["methods"] for ra in res.rank_agreement] == [["ig", "gxi"], ["ig", "occlusion"], ["gxi", "occlusion"]]
    rhos = [spearmanr(e.attribution("ig").word_scores, e.attribution("occlusion").word_scores).statistic for e in res.examples]
    assert res.rank_agreement[1]["spearman"] == pytest.approx(float(np.mean(rhos)), abs=1e-9)
    assert set(res.faithfulness) == {"ig", "gxi", "occlusion"}
