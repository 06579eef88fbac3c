"""Faithfulness of attributions: do the words an explanation ranks highest actually drive the output?

ERASER (DeYoung et al. 2020): comprehensiveness_k = m(x) − m(x without its top-k% words), sufficiency_k =
m(x) − m(only its top-k% words); AOPC averages over k ∈ {1, 5, 10, 20, 50}%. Removed words are deleted
from the token sequence (special tokens always stay), and m is the attributed quantity itself. A random
ranking's comprehensiveness is the floor to beat: RANDOM_ORDERS random orders per example, and the bootstrap
95% interval of the mean difference AOPC(explanation) − AOPC(random order); when that interval includes 0 (or
lies below it, or cannot be computed) the explanation is flagged as no better than random deletion, and displays say in words
that its ranking should not be trusted. The same rule applies to the set's mean difference. The deletion curve follows m as
the top 0%, 10%, …, 100% of words are removed. Rank agreement between methods is Spearman's ρ over words.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from audit.explain.batching import Budget, Job, score_rows
from audit.explain.targets import Head
from audit.stats import bootstrap_ci, too_few

AOPC_K = (1, 5, 10, 20, 50)
RANDOM_ORDERS = 10
UNTRUSTED = ("comprehensiveness no better than deleting words in random order (the 95% interval of the AOPC "
             "difference includes 0): do not trust this explanation's ranking of words")
UNTRUSTED_SET = UNTRUSTED.replace("this explanation's", "these explanations'")


def no_better_than_random(ci: Sequence[float] | None) -> bool:
    """True when the interval of AOPC(explanation) − AOPC(random) includes 0 (or lies below it: worse than
    random), or there is none to judge by."""
    return ci is None or ci[0] <= 0


DELETION_FRACTIONS = tuple(i / 10 for i in range(11))


def top_count(k_percent: float, n_words: int) -> int:
    """How many words the top k% is: at least one, rounded up (ERASER's top-k% of tokens, here words)."""
    return min(n_words, max(1, math.ceil(k_percent / 100 * n_words))) if n_words else 0


def _kept_rows(job: Job, head: Head, removed: set[int]) -> tuple[list[int], int]:
    """Token ids without the ``removed`` words, and where the target position lands."""
    kept = [p for p, w in enumerate(job.enc.word_of_token) if w is None or w not in removed]
    return [job.enc.ids[p] for p in kept], head.position_after(job.target.position, kept)


def evaluate(head: Head, jobs: Sequence[Job], word_scores: dict[str, list[np.ndarray]], budget: Budget,
             seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Per method, per example: comprehensiveness/sufficiency by k, their AOPC, the random floor and the
    deletion curve — every perturbed text of every method scored in one batched pass."""
    rng = np.random.default_rng(seed)
    rows: list[list[int]] = []
    targets, positions = [], []
    index: dict[tuple[int, tuple[int, ...]], int] = {}

    def need(i: int, removed: set[int]) -> int:
        key = (i, tuple(sorted(removed)))
        if key not in index:
            r, pos = _kept_rows(jobs[i], head, removed)
            index[key] = len(rows)
            rows.append(r)
            targets.append(jobs[i].target)
            positions.append(pos)
        return index[key]

    plans: dict[str, list[dict[str, Any]]] = {}
    random_orders = []
    for job in jobs:
        keep_always = head.protected(job.enc, job.target)
        movable = [w for w in range(len(job.enc.words)) if w not in keep_always]
        random_orders.append([[movable[j] for j in rng.permutation(len(movable))] for _ in range(RANDOM_ORDERS)])
    for method, scores in word_scores.items():
        plans[method] = []
        for i, job in enumerate(jobs):
            keep_always = head.protected(job.enc, job.target)
            movable = [w for w in range(len(job.enc.words)) if w not in keep_always]
            ranked = sorted(movable, key=lambda w: -scores[i][w])
            n = len(ranked)
            plan: dict[str, Any] = {"full": need(i, set()), "n_words": n,
                    "comp": [need(i, set(ranked[: top_count(k, n)])) for k in AOPC_K],
                    "suff": [need(i, set(ranked[top_count(k, n):])) for k in AOPC_K],
                    "rand": [[need(i, set(order[: top_count(k, n)])) for k in AOPC_K] for order in random_orders[i]],
                    "curve": [need(i, set(ranked[: round(f * n)])) for f in DELETION_FRACTIONS]}
            plans[method].append(plan)
    values = score_rows(head, rows, targets, positions, budget)
    out: dict[str, list[dict[str, Any]]] = {}
    for method, method_plans in plans.items():
        out[method] = []
        for plan in method_plans:
            full = values[plan["full"]]
            if plan["n_words"] == 0:
                out[method].append({"n_words": 0})
                continue
            comp = [float(full - values[j]) for j in plan["comp"]]
            suff = [float(full - values[j]) for j in plan["suff"]]
            rand = np.array([[float(full - values[j]) for j in order] for order in plan["rand"]])  # [orders, k]
            over = float(np.mean(comp)) - rand.mean(axis=1)
            ci = list(bootstrap_ci(over, seed=seed))
            curve = [float(values[j]) for j in plan["curve"]]
            out[method].append({
                "n_words": plan["n_words"],
                "comprehensiveness": dict(zip(map(str, AOPC_K), comp)),
                "sufficiency": dict(zip(map(str, AOPC_K), suff)),
                "aopc_comprehensiveness": float(np.mean(comp)),
                "aopc_sufficiency": float(np.mean(suff)),
                "aopc_random_comprehensiveness": float(rand.mean()),
                "comprehensiveness_over_random": {"mean": float(over.mean()), "ci": ci, "n_random_orders": len(over)},
                "no_better_than_random": no_better_than_random(ci),
                "deletion_curve": [[f, v] for f, v in zip(DELETION_FRACTIONS, curve)],
                "deletion_auc": float(np.trapezoid(curve, DELETION_FRACTIONS)),
            })
    return out


def summarise(per_example: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Set-level means with bootstrap 95% CIs; says when there are too few examples to conclude."""
    summary: dict[str, Any] = {}
    usable = [e for e in per_example if e.get("n_words")]
    for key in ("aopc_comprehensiveness", "aopc_sufficiency", "aopc_random_comprehensiveness", "deletion_auc"):
        vals = np.array([e[key] for e in usable], dtype=np.float64)
        summary[key] = {"mean": float(vals.mean()) if len(vals) else None,
                        "ci": list(bootstrap_ci(vals, seed=seed)) if len(vals) > 1 else None, "n": len(vals)}
    if usable:
        gain = np.array([e["aopc_comprehensiveness"] - e["aopc_random_comprehensiveness"] for e in usable])
        ci = list(bootstrap_ci(gain, seed=seed)) if len(gain) > 1 else None
        summary["comprehensiveness_over_random"] = {"mean": float(gain.mean()), "ci": ci, "n": len(gain)}
        summary["no_better_than_random"] = no_better_than_random(ci)
    summary["too_few"] = bool(too_few(len(usable)))
    return summary


def rank_agreement(word_scores: dict[str, list[np.ndarray]], seed: int = 0) -> list[dict[str, Any]]:
    """Spearman's ρ between the word rankings of each pair of methods: per-example mean and bootstrap CI."""
    out = []
    for a, b in itertools.combinations(word_scores, 2):
        rhos = []
        for x, y in zip(word_scores[a], word_scores[b]):
            if len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
                rhos.append(float(spearmanr(x, y).statistic))
        vals = np.array(rhos)
        out.append({"methods": [a, b], "spearman": float(vals.mean()) if len(vals) else None,
                    "ci": list(bootstrap_ci(vals, seed=seed)) if len(vals) > 1 else None, "n": len(rhos),
                    "top1_agreement": float(np.mean([int(np.argmax(x) == np.argmax(y))
                                                     for x, y in zip(word_scores[a], word_scores[b]) if len(x)]))
                    if any(len(x) for x in word_scores[a]) else None})
    return out
