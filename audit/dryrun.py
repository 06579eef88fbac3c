"""``audit run --dry-run``: how much work an audit will be, before it runs.

The probes run against a *surrogate*: the same architecture, tokenizer, head and limits, cut to one
layer with random weights, so every probe builds exactly the inputs it would build and the engine
counts them (inputs asked for, sequences to compute, tokens, batches) at a fraction of the cost. The
time estimate divides those tokens by the real model's throughput, measured on a few full-size batches.
Probes whose inputs depend on the model's answers (which needles are decisive, say) are estimated on
the surrogate's answers: the counts are an estimate for them, exact for the rest.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.engine import Engine
from audit.models import AuditedModel


@dataclass(frozen=True)
class PlannedProbe:
    probe: str
    suite: str
    inputs: int
    sequences: int
    tokens: int
    batches: int
    seconds: float


def surrogate(model: AuditedModel) -> AuditedModel:
    """The adapter over a one-layer random copy of the model, with an in-memory cache of its own."""
    config = copy.deepcopy(model.model.config)
    for key in ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_decoder_layers"):
        if getattr(config, key, None):
            setattr(config, key, 1)
    torch.manual_seed(0)
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


def tokens_per_second(model: AuditedModel, length: int = 128, rows: int = 32, seconds: float = 3.0) -> float:
    """Throughput of the real model's forward pass on full-size batches (random token ids)."""
    length = min(length, model.max_length)
    rng = np.random.default_rng(0)
    vocab = int(model.info.vocab_size)
    ids = torch.as_tensor(rng.integers(1000 % vocab, vocab, size=(rows, length)), device=model.engine.device)
    mask = torch.ones_like(ids)
    done, start = 0, time.perf_counter()
    with torch.inference_mode(), model.engine.autocast():
        while time.perf_counter() - start < seconds or done == 0:
            model.model(input_ids=ids, attention_mask=mask)
            done += rows * length
    return done / (time.perf_counter() - start)


def plan(model: AuditedModel, probes: list[Any]) -> tuple[list[PlannedProbe], float]:
    """Per-probe work on the surrogate, and the real model's measured tokens per second."""
    rate = tokens_per_second(model)
    twin = surrogate(model)
    rows = []
    for probe in probes:
        before = copy.copy(twin.engine.stats)
        probe.run(twin)
        s = twin.engine.stats
        computed = s.sequences - before.sequences
        tokens = s.tokens - before.tokens
        rows.append(PlannedProbe(probe.name, probe.suite, computed + s.cache_hits - before.cache_hits, computed, tokens,
                                 s.forward_calls - before.forward_calls, tokens / rate))
    return rows, rate


def render(model: AuditedModel, rows: list[PlannedProbe], rate: float, skipped: list[str]) -> str:
    lines = [f"dry run: {model.info.spec} ({model.task}) on {model.info.device}, {model.info.dtype}; "
             f"measured {rate:,.0f} tokens/s on full-size batches", "",
             f"{'probe':34} {'inputs':>9} {'forward passes':>15} {'tokens':>11} {'batches':>8} {'est. s':>8}"]
    for suite in sorted({r.suite for r in rows}):
        mine = [r for r in rows if r.suite == suite]
        for r in mine:
            lines.append(f"{r.probe:34} {r.inputs:9,} {r.sequences:15,} {r.tokens:11,} {r.batches:8,} {r.seconds:8.1f}")
        lines.append(f"{'  suite ' + suite:34} {sum(r.inputs for r in mine):9,} {sum(r.sequences for r in mine):15,} "
                     f"{sum(r.tokens for r in mine):11,} {sum(r.batches for r in mine):8,} {sum(r.seconds for r in mine):8.1f}")
    total = sum(r.seconds for r in rows)
    lines += ["", f"estimated model time {total:.0f} s (inputs a probe shares with an earlier one are computed once); "
              "explanations, loading and tokenizer-only work come on top"]
    if skipped:
        lines.append(f"not applicable to this model: {', '.join(skipped)}")
    return "\n".join(lines)
