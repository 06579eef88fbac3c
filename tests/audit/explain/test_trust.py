"""Trust signals: an explanation whose comprehensiveness is no better than random deletion is flagged, in words."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.explain import faithfulness as faith
from audit.explain.batching import Budget, Job
from audit.explain.explainer import explain
from audit.explain.render import render_html, render_table
from audit.explain.words import encode
from audit.stats import bootstrap_ci
from audit.tasks import explanation_head as head_for

TEXTS = ["The quick brown fox jumps over the lazy dog near the river bank today.",
         "She works as a nurse in a small hospital in the north of the country."]


@pytest.mark.parametrize("ci,flag", [(None, True), ([-0.2, 0.3], True), ([0.0, 0.5], True), ([-0.4, -0.1], True),
                                     ([0.01, 0.5], False)])
def test_flag_rule(ci, flag):
    assert faith.no_better_than_random(ci) is flag


def _contributions(m, job):  # type: ignore[no-untyped-def]
    """Each word's exact share of the linear model's log-odds (deleting it removes exactly this much)."""
    E, W = m.model.emb.weight.detach().double(), m.model.w.detach().double()
    w = W[:, 1] - W[:, 0]
    return np.array([sum(float(E[job.enc.ids[p]] @ w) for p in ps) for ps in job.enc.word_tokens])


def test_best_ranking_trusted_worst_flagged_and_interval_recomputed(linear_model):
    m = linear_model
    head = head_for(m)
    enc = encode(m, TEXTS, truncate=False)
    jobs = [Job(e, t) for e, t in zip(enc, head.resolve(enc, ["pos"] * len(enc)))]
    exact = [_contributions(m, j) for j in jobs]
    out = faith.evaluate(head, jobs, {"best": exact, "worst": [-x for x in exact]}, Budget(4096, torch.device("cpu")))
    rng = np.random.default_rng(0)  # the same random orders, recomputed by hand from the closed form
    orders = [[rng.permutation(len(j.enc.words)) for _ in range(faith.RANDOM_ORDERS)] for j in jobs]
    for method, sign in (("best", 1), ("worst", -1)):
        for i, (j, f) in enumerate(zip(jobs, out[method])):
            n = len(j.enc.words)
            ranked = np.argsort(-sign * exact[i], kind="stable")
            comp = np.mean([exact[i][ranked[: faith.top_count(k, n)]].sum() for k in faith.AOPC_K])
            rand = [np.mean([exact[i][o[: faith.top_count(k, n)]].sum() for k in faith.AOPC_K]) for o in orders[i]]
            over = comp - np.asarray(rand)
            assert f["aopc_comprehensiveness"] == pytest.approx(comp, abs=1e-4)
            np.testing.assert_allclose(f["comprehensiveness_over_random"]["ci"], bootstrap_ci(over), atol=1e-4)
            assert f["no_better_than_random"] is (f["comprehensiveness_over_random"]["ci"][0] <= 0)
            assert f["no_better_than_random"] is (method == "worst")


def test_flag_shown_in_words_exactly_for_flagged_explanations(tiny):
    m = tiny("bert-classifier")
    res = explain(m, TEXTS + ["A wonderful day.", "Numbers like 12345 appear."], n_steps=8, completeness_tol=10)
    flags = [e.attributions[0].faithfulness["no_better_than_random"] for e in res.examples]
    table = render_table(res)
    assert table.count("warning: " + faith.UNTRUSTED) == sum(flags)
    html = render_html(res)
    assert html.count("do not trust this explanation&#39;s ranking") == sum(flags) + bool(res.faithfulness["ig"]["no_better_than_random"])
