"""Batched Integrated Gradients against one example per call, and the cost of explaining telling cases.

Peer (the transformers-interpret way): for each text, tokenise it, run a forward pass to fix the target,
then one LayerIntegratedGradients call with n_steps=50 on that text alone. Ours: audit.explain.explain on
all texts at once (length-sorted chunks cut where padding would exceed 25% on CPU, many examples per
captum call). Both attribute the same quantity with the same baselines; every row's error is
measured against a 400-step reference, so equal-step rows must agree with the peer and the adaptive row
shows what its fewer steps cost. Then it times explain_cases on telling cases (with their counterfactual
pairs) as the runner calls it.

    python bench/bench_explain.py [--n 32] [--cases 64] [--model default]
"""
from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np
import torch

from summary import summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBJECTS = ["He", "She", "My neighbour", "The new doctor", "Our manager", "The engineer from Lagos", "That nurse", "The old man"]
PREDICATES = ["was wonderful and kind to everyone at the party", "is terrible at keeping promises",
              "works as a nurse in a small hospital", "made the whole team laugh during a long and difficult week",
              "never answers emails", "cooked a delicious dinner", "drove to the stadium", "is brilliant"]


ADAPTIVE_STEPS = 24
ADAPTIVE_TOL = 0.01


def sentences(n: int) -> list[str]:
    return [f"{SUBJECTS[i % len(SUBJECTS)]} {PREDICATES[(i * 3) % len(PREDICATES)]}." for i in range(n)]


def one_per_call(model, texts: list[str], n_steps: int = 50) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """transformers-interpret style: one text per call, a separate forward pass to find the target."""
    from audit.explain.words import special_ids
    from audit.tasks import explanation_head as head_for

    head = head_for(model)
    special = special_ids(model)
    out = []
    for text in texts:
        ids = torch.tensor([model.tokenizer(text)["input_ids"]])
        base = torch.tensor([[t if t in special else model.engine.pad_id for t in ids[0].tolist()]])
        out.append(_lig(head, ids, base, _label(head, ids, len(model.labels)), n_steps))
    return out


def _label(head, ids: torch.Tensor, n_labels: int) -> int:  # type: ignore[no-untyped-def]
    """The extra forward pass that fixes the target: the label with the largest log-odds."""
    mask = torch.ones_like(ids)
    with torch.no_grad():
        return int(torch.stack([head.forward(ids, mask, head.position_ids(mask), torch.zeros_like(ids), torch.tensor([k]),
                                             torch.zeros(1, dtype=torch.long), torch.zeros(1, 1)) for k in range(n_labels)]).argmax())


def _lig(head, ids: torch.Tensor, base: torch.Tensor, label: int, n_steps: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    from captum.attr import LayerIntegratedGradients

    mask = torch.ones_like(ids)
    lig = LayerIntegratedGradients(head.forward, head.embedding)
    attr = lig.attribute(ids, baselines=base, n_steps=n_steps, method="gausslegendre",
                         additional_forward_args=(mask, head.position_ids(mask), torch.zeros_like(ids), torch.tensor([label]),
                                                  torch.zeros(1, dtype=torch.long), torch.zeros(1, 1)))
    return attr.sum(-1)[0].detach().numpy()


def pairs_one_per_call(model, texts: list[str], pairs: list[str], n_steps: int = 50) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """What a per-pair loop does for the same output: per pair, fix the target, attribute each side against
    [PAD] and the gap from the token-aligned counterfactual, three captum calls of one row each."""
    from audit.explain.contrast import align
    from audit.explain.words import special_ids
    from audit.tasks import explanation_head as head_for

    head = head_for(model)
    special = special_ids(model)
    pad = model.engine.pad_id
    out = []
    for text, pair in zip(texts, pairs):
        ids, cf = (torch.tensor([model.tokenizer(t)["input_ids"]]) for t in (text, pair))
        label = _label(head, ids, len(model.labels))
        for side in (ids, cf):
            _lig(head, side, torch.tensor([[t if t in special else pad for t in side[0].tolist()]]), label, n_steps)
        al = align(ids[0].tolist(), cf[0].tolist(), pad)
        out.append(_lig(head, torch.tensor([al.text_ids]), torch.tensor([al.pair_ids]), label, n_steps))
    return out


def counterfactuals(texts: list[str]) -> list[str]:
    """Each sentence with its subject swapped for the next one (some swaps change the token count)."""
    out = []
    for t in texts:
        k = next(i for i, s in enumerate(SUBJECTS) if t.startswith(s + " "))
        out.append(SUBJECTS[(k + 1) % len(SUBJECTS)] + t[len(SUBJECTS[k]):])
    return out


def telling_cases(model, n: int):  # type: ignore[no-untyped-def]
    """The default audit's telling cases (probes run without explanations); synthetic pairs if too few."""
    import audit
    from audit.results import Case

    result = audit.run(model, explain=False, progress=False)
    cases = [c for p in result.probes for c in p.cases][:n]
    source = f"{len(cases)} from the default audit ({', '.join(sorted({p.probe for p in result.probes if p.cases}))})"
    extra = sentences(2 * n)
    while len(cases) < n:
        t = extra.pop()
        cases.append(Case(t, 0.0, "synthetic", pair=t.replace("He ", "She ", 1) if t.startswith("He ") else None))
    return cases, source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--n", type=int, default=32, help="texts for the batched-vs-per-call comparison")
    ap.add_argument("--cases", type=int, default=64, help="telling cases to explain")
    ap.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    args = ap.parse_args()

    from audit.explain import explain, explain_cases
    from audit.loading import load

    model = load(args.model, progress=False, use_cache=False)
    texts = sentences(args.n)
    explain(model, texts[:2], n_steps=4, faithfulness=False)  # warm-up (centroids, kernels)

    def timed(f):  # type: ignore[no-untyped-def]  # best of --repeat: first calls at a new shape pay for kernel setup
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = f()
            best = min(best, time.perf_counter() - t)
        return out, best

    peer, t_peer = timed(lambda: one_per_call(model, texts))
    runs = [("one text per call, n_steps 50 (peer)", [np.asarray(p) for p in peer], t_peer)]
    for label, kwargs in [("batched IG, n_steps 50 (audit.explain)", {"n_steps": 50}),
                          (f"batched IG, adaptive: n_steps {ADAPTIVE_STEPS}, doubled where the completeness gap > {ADAPTIVE_TOL:g}",
                           {"n_steps": ADAPTIVE_STEPS, "completeness_tol": ADAPTIVE_TOL}),
                          ("batched IG, n_steps 50 + faithfulness (AOPC, deletion curves)", {"n_steps": 50, "faithfulness": True})]:
        res, dt = timed(functools.partial(explain, model, texts, **{"faithfulness": False, **kwargs}))
        runs.append((label, [np.asarray(e.token_scores) for e in res.examples], dt))
    ref = [np.asarray(e.token_scores) for e in explain(model, texts, n_steps=400, faithfulness=False).examples]

    def error(scores: list[np.ndarray]) -> float:  # largest |difference| over the example's largest |score|
        return max(float(np.abs(s - r).max() / max(np.abs(r).max(), 1e-12)) for s, r in zip(scores, ref))

    print(f"device {model.info.device}, torch threads {torch.get_num_threads()}, model {model.info.spec}, {len(texts)} texts")
    print("| run | seconds | texts/s | ratio | error vs 400 steps |")
    print("|---|---:|---:|---:|---:|")
    for label, scores, dt in runs:
        print(f"| {label} | {dt:.2f} | {len(texts) / dt:.2f} | {t_peer / dt:.2f}x | {error(scores):.1e} |")
    same = max(float(np.abs(s - p).max() / max(np.abs(p).max(), 1e-12)) for s, p in zip(runs[1][1], runs[0][1]))
    print(f"batched n_steps 50 vs peer: largest token-score difference {same:.1e} of the example's largest |score|")
    for label, scores, dt in runs[1:3]:
        summary(f"{label} vs one text per call ({len(texts)} texts)", f"{dt:.2f} s", f"{t_peer:.2f} s", t_peer / dt,
                note=f"error vs 400 steps {error(scores):.1e} (peer {error(runs[0][1]):.1e}); {model.info.device}")

    pairs = counterfactuals(texts)
    peer_c, t_peer_c = timed(lambda: pairs_one_per_call(model, texts, pairs))
    ours_c, t_ours_c = timed(lambda: explain(model, texts, pairs=pairs, n_steps=50, faithfulness=False))
    ref_c = [np.asarray(e.contrast.token_scores) for e in explain(model, texts, pairs=pairs, n_steps=400, faithfulness=False).examples]

    def error_c(scores: list[np.ndarray]) -> float:
        return max(float(np.abs(s - r).max() / max(np.abs(r).max(), 1e-12)) for s, r in zip(scores, ref_c))

    mine = [np.asarray(e.contrast.token_scores) for e in ours_c.examples]
    print("| pairs: both sides + the gap (contrastive IG), n_steps 50 | seconds | pairs/s | ratio | gap error vs 400 steps |")
    print("|---|---:|---:|---:|---:|")
    print(f"| one pair per call (3 captum calls a pair) | {t_peer_c:.2f} | {len(texts) / t_peer_c:.2f} | 1.00x | {error_c(peer_c):.1e} |")
    print(f"| batched (audit.explain, pairs=) | {t_ours_c:.2f} | {len(texts) / t_ours_c:.2f} | {t_peer_c / t_ours_c:.2f}x | "
          f"{error_c(mine):.1e} |")
    fills = sum(e.contrast.fills > 0 for e in ours_c.examples)
    summary(f"contrastive IG on {len(texts)} pairs (both sides + the gap) vs one pair per call", f"{t_ours_c:.2f} s",
            f"{t_peer_c:.2f} s", t_peer_c / t_ours_c,
            note=f"gap error vs 400 steps {error_c(mine):.1e} (peer {error_c(peer_c):.1e}); {fills} pairs needed fills; "
                 f"{model.info.device}")

    cases, source = telling_cases(model, args.cases)
    for n in sorted({16, len(cases)}):
        t = time.perf_counter()
        rows = explain_cases(model, cases[:n], max_cases=n)
        dt = time.perf_counter() - t
        sides = sum(1 + (r.get("pair") is not None) for r in rows)
        bad = sum(r.get("converged") is False for r in rows)
        print(f"explain_cases: {n} telling cases ({sides} texts with pairs) in {dt:.1f} s; {bad} not converged; cases: {source}")
    summary(f"explaining {n} telling cases of the default audit ({sides} texts with pairs)", f"{dt:.1f} s", note="goal: 64 cases < 30 s on 2 CPU cores")


if __name__ == "__main__":
    main()
