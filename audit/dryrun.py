"""``audit run --dry-run``: how much work an audit will be, before it runs.

The probes run against a *surrogate*: the same architecture, tokenizer, head and limits, cut to one narrow
layer with random weights, under the same token budget, so every probe builds exactly the inputs it would
build and the engine counts them (inputs asked for, sequences to compute, tokens, batches) at a fraction of
the cost. The time estimate is the probes' own work outside the model (the same in both runs, measured on the
surrogate) plus the real model's cost of every planned batch, fitted on a few planned batches run for real.
Probes whose inputs depend on the model's answers (which needles are decisive, say) are estimated on
the surrogate's answers: the counts are an estimate for them, exact for the rest.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.engine import Engine, padded
from audit.tasks.base import AuditedModel


@dataclass(frozen=True)
class PlannedProbe:
    probe: str
    suite: str
    inputs: int
    sequences: int
    tokens: int
    batches: int
    seconds: float


WIDTH_KEYS = {  # per architecture family: width settings of the smallest surrogate (heads divide the width)
    "hidden_size": 16, "intermediate_size": 16, "num_attention_heads": 1, "n_embd": 16, "n_inner": 16, "n_head": 1,
    "dim": 16, "hidden_dim": 16, "n_heads": 1, "d_model": 16, "encoder_ffn_dim": 16, "decoder_ffn_dim": 16,
    "encoder_attention_heads": 1, "decoder_attention_heads": 1, "d_ff": 16, "d_kv": 16, "num_heads": 1,
    "num_key_value_heads": 1, "embedding_size": 16,
}


def surrogate(model: AuditedModel) -> AuditedModel:
    """The adapter over a one-layer, narrow, random copy of the model, with an in-memory cache of its own.

    Depth and width change no probe's inputs (only answers, which are random either way); when an architecture
    refuses the narrow widths, the copy keeps the real widths and only loses layers."""
    config = copy.deepcopy(model.model.config)
    for key in ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_decoder_layers", "encoder_layers", "decoder_layers"):
        if getattr(config, key, None):
            setattr(config, key, 1)
    narrow = copy.deepcopy(config)
    for key, value in WIDTH_KEYS.items():
        if getattr(narrow, key, None):
            setattr(narrow, key, value)
    torch.manual_seed(0)
    try:
        small = type(model.model)(narrow).eval()
        ids = torch.ones((1, 4), dtype=torch.long)
        with torch.inference_mode():
            small(input_ids=ids, attention_mask=ids, **_decoder_inputs(small, ids))
    except Exception:  # noqa: BLE001 - an architecture with other width rules: keep its widths
        small = type(model.model)(config).eval()
    twin = copy.copy(model)
    twin.model = small
    old = model.engine
    twin.engine = Engine(old.tokenizer, fingerprint="dry-run", device=torch.device("cpu"), dtype=torch.float32,
                         max_length=old.max_length, token_budget=old.token_budget, batch_size=old.batch_size,
                         cache=None, progress=False)
    if hasattr(twin, "_centroids"):
        twin._centroids = None
    return twin


def _decoder_inputs(model: torch.nn.Module, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Encoder-decoder models need decoder inputs for a plain forward pass (T5 does not derive them)."""
    return {"decoder_input_ids": ids} if getattr(model.config, "is_encoder_decoder", False) else {}


Call = tuple[int, int, Any, list[Any], list[Any]]
"""One planned forward call: rows, padded width, the primitive's forward function, its sequences and extras."""


def _time_call(model: AuditedModel, twin: AuditedModel, call: Call, min_seconds: float = 0.02) -> float:
    """Seconds of the real model doing exactly this planned call (the primitive's own forward function, on the
    real device): the surrogate adapter borrows the real weights for the measurement."""
    _, _, forward, seqs, extras = call
    small, twin.model = twin.model, model.model
    stats = copy.copy(model.engine.stats)
    try:
        done, start = 0, time.perf_counter()
        while done == 0 or time.perf_counter() - start < min_seconds:
            model.engine._forward(forward, seqs, extras)
            done += 1
    finally:
        twin.model, model.engine.stats = small, stats
    return (time.perf_counter() - start) / done


def cost_model(model: AuditedModel, twin: AuditedModel, calls: list[Call], samples: int = 6) -> Callable[[int, int], float]:
    """Seconds per forward call of the real model as a function of its batch shape (rows, padded width):
    c0 + c1·rows·width + c2·rows·width² (per call, per token, attention), fitted by non-negative least squares
    (relative error) on real runs of planned calls: the largest, the smallest and evenly spaced ones between."""
    from scipy.optimize import nnls

    first: dict[tuple[int, int], Call] = {}
    for c in calls:
        first.setdefault((c[0], c[1]), c)
    distinct = sorted(first, key=lambda s: s[0] * s[1])
    if not distinct:
        return lambda rows, width: 0.0
    picks = sorted({distinct[round(i * (len(distinct) - 1) / max(samples - 1, 1))] for i in range(samples)})
    _time_call(model, twin, first[picks[0]])  # warm-up (first-call allocations)
    feats = np.array([[1.0, r * w, r * w * w] for r, w in picks])
    times = np.array([_time_call(model, twin, first[p]) for p in picks])
    if len(picks) < 3:  # too few shapes to separate the terms: time per token
        coef = np.array([0.0, float(times.sum() / feats[:, 1].sum()), 0.0])
    else:
        coef = nnls(feats / times[:, None], np.ones(len(picks)))[0]
    return lambda rows, width: float(coef @ np.array([1.0, rows * width, rows * width * width]))


def plan(model: AuditedModel, probes: list[Any], budget: int | None = None) -> tuple[list[PlannedProbe], float]:
    """Per-probe work on the surrogate (under the same token budget and cuts as a real run), and its estimated
    seconds: the surrogate's own time outside the model (tokenising and probe code are the same work) plus
    the real model's fitted cost of every batch the plan makes. Also returns the real model's tokens/s on the
    plan's largest batch shape."""
    from audit.budget import run_within

    twin = surrogate(model)
    calls: list[Call] = []
    inner = twin.engine._forward

    def recording(forward: Any, seqs: list[Any], extras: list[Any]) -> list[np.ndarray]:
        calls.append((len(seqs), padded(max(len(s) for s in seqs)), forward, seqs, extras))
        return inner(forward, seqs, extras)

    twin.engine._forward = recording  # type: ignore[method-assign]
    measured = []
    for probe in probes:
        before, first = copy.copy(twin.engine.stats), len(calls)
        start = time.perf_counter()
        run_within(probe, twin, budget)
        wall = time.perf_counter() - start
        s = twin.engine.stats
        measured.append((probe, before, s, first, len(calls), max(0.0, wall - (s.seconds - before.seconds))))
        twin.engine.stats = copy.copy(s)
    cost = cost_model(model, twin, calls)
    rows = []
    for probe, before, s, first, last, outside in measured:
        computed, tokens = s.sequences - before.sequences, s.tokens - before.tokens
        seconds = outside + sum(cost(c[0], c[1]) for c in calls[first:last])
        rows.append(PlannedProbe(probe.name, probe.suite, computed + s.cache_hits - before.cache_hits, computed, tokens,
                                 s.forward_calls - before.forward_calls, seconds))
    biggest = max(((c[0], c[1]) for c in calls), key=lambda x: x[0] * x[1], default=(1, 8))
    return rows, biggest[0] * biggest[1] / max(cost(*biggest), 1e-9)


def render(model: AuditedModel, rows: list[PlannedProbe], rate: float, skipped: list[str], budget: int | None = None) -> str:
    lines = [f"dry run: {model.info.spec} ({model.task}) on {model.info.device}, {model.info.dtype}; "
             f"the real model's fitted speed on the plan's largest batches: {rate:,.0f} tokens/s",
             f"token budget per probe: {'none' if budget is None else f'{budget:,} tokens (probes over it are cut down, as in the real run)'}", "",
             f"{'probe':34} {'inputs':>9} {'forward passes':>15} {'tokens':>11} {'batches':>8} {'est. s':>8}"]
    for suite in sorted({r.suite for r in rows}):
        mine = [r for r in rows if r.suite == suite]
        for r in mine:
            lines.append(f"{r.probe:34} {r.inputs:9,} {r.sequences:15,} {r.tokens:11,} {r.batches:8,} {r.seconds:8.1f}")
        lines.append(f"{'  suite ' + suite:34} {sum(r.inputs for r in mine):9,} {sum(r.sequences for r in mine):15,} "
                     f"{sum(r.tokens for r in mine):11,} {sum(r.batches for r in mine):8,} {sum(r.seconds for r in mine):8.1f}")
    total = sum(r.seconds for r in rows)
    lines += ["", f"estimated probe time {total:.1f} s: the real model's fitted cost of every planned batch, plus the "
              "probes' own work outside the model (inputs a probe shares with an earlier one are computed once); "
              "loading and explanations come on top"]
    if skipped:
        lines.append(f"not applicable to this model: {', '.join(skipped)}")
    return "\n".join(lines)
