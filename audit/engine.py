"""The batched inference engine shared by every probe.

Tokenise once in bulk with the fast tokenizer; sort by length; batch under a token budget (not a fixed
count); pad to a multiple of 8; run under ``torch.inference_mode`` (bf16 autocast on GPUs that support
it); halve the budget on CUDA out-of-memory and remember what fit; restore the original order; and cache
every output by (model fingerprint, primitive, input) so probes and re-runs share forward passes.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audit.cache import OutputCache, make_key
from audit.errors import AuditError, BudgetExceeded
from audit.long_text import LONG_TEXT_STRATEGIES

PAD_MULTIPLE = 8
CPU_CANDIDATES = (0, 512, 2048, 8192)
"""Token budgets per batch the engine tries on a CPU (0: one text per forward pass, no padding at all)."""
TRIAL_TOKENS = 2048
"""Real work each candidate does per trial round; two rounds each, interleaved, so all see similar lengths."""


def pick_device(requested: str = "auto") -> torch.device:
    """cuda, then mps, then cpu — or what the user asked for, checked."""
    if requested == "auto":
        from audit import distributed

        if distributed.world()[1] > 1:
            assigned = torch.device(distributed.device())
            return torch.device("cpu") if assigned.type == "cpu" else assigned
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise AuditError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AuditError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise AuditError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return device


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it, fp32 elsewhere — or what the user asked for."""
    table = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
             "fp16": torch.float16, "float16": torch.float16}
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if requested not in table:
        raise AuditError(f"unknown dtype {requested!r}; use auto, fp32, bf16 or fp16")
    return table[requested]


@dataclass
class Batch:
    """A padded batch on the device. ``extras`` carries per-row data (e.g. which position is masked)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: list[int]
    extras: list[Any]


@dataclass
class EngineStats:
    sequences: int = 0
    tokens: int = 0
    seconds: float = 0.0
    forward_calls: int = 0
    cache_hits: int = 0
    oom_backoffs: int = 0
    explanations_cached: int = 0
    cpu_batch_tokens: int | None = None
    """The batch token budget the CPU trial chose (0: one text per pass); None when none was run."""

    def as_dict(self) -> dict[str, float]:
        s = max(self.seconds, 1e-9)
        return {
            "sequences": self.sequences,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "sequences_per_s": round(self.sequences / s, 1) if self.sequences else 0.0,
            "tokens_per_s": round(self.tokens / s, 1) if self.tokens else 0.0,
            "forward_calls": self.forward_calls,
            "cache_hits": self.cache_hits,
            "oom_backoffs": self.oom_backoffs,
            "explanations_cached": self.explanations_cached,
            **({} if self.cpu_batch_tokens is None else {"cpu_batch_tokens": self.cpu_batch_tokens}),
        }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


class Engine:
    """Runs a forward function over many token sequences, batched, cached and in order."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        fingerprint: str,
        device: torch.device,
        dtype: torch.dtype,
        max_length: int,
        token_budget: int | None = None,
        batch_size: int | None = None,
        cache: OutputCache | None = None,
        progress: bool = True,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise AuditError(f"--batch-size must be a positive integer or 'auto', got {batch_size}")
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint
        self.device = device
        self.dtype = dtype
        self.max_length = max_length
        self.token_budget = token_budget or (131072 if device.type == "cuda" else 8192)
        self.batch_size = batch_size
        self.tune = device.type == "cpu" and token_budget is None and batch_size is None
        """On a CPU with nothing fixed by the user: time the candidates on the first large call and keep the fastest
        for batching (``token_budget`` itself, which explanations and cache keys use, is left as it is)."""
        self.rows_budget: int | None = None
        self.cache = cache if cache is not None else OutputCache(None)
        self.progress = progress
        self.stats = EngineStats()
        self.limit: int | None = None
        self.spent = 0
        from audit import distributed

        self.rank, self.world = distributed.world()
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad)

    # ---- tokenisation ------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, max_length: int | None = None, special_tokens: bool = True) -> list[list[int]]:
        """Token ids for each text in one bulk call, truncated to the limit in force."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string")
        if not texts:
            return []
        limit = max_length or self.max_length
        enc = self.tokenizer(
            list(texts),
            add_special_tokens=special_tokens,
            truncation=limit is not None and special_tokens,
            max_length=limit if special_tokens else None,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        return [list(ids) for ids in enc["input_ids"]]

    def shape_long(self, texts: Sequence[str], strategy: str = "truncate") -> tuple[list[list[int]], list[int]]:
        """Token ids fitted to the limit by ``strategy``, and for each row the index of its text.

        truncate/head keep the start, tail the end, head_tail both halves; window_* split the text into
        overlapping windows (stride as the transformers QA pipeline: overlap min(window // 2, 128)), one
        row each, which the caller aggregates.
        """
        if strategy not in LONG_TEXT_STRATEGIES:
            from audit.errors import unknown_name

            raise unknown_name("long-text strategy", strategy, LONG_TEXT_STRATEGIES)
        if strategy == "truncate":
            encoded = self.encode(texts)
            return encoded, list(range(len(encoded)))
        content = self.encode(texts, special_tokens=False)
        prefix, suffix = self.special_frame()
        room = self.max_length - len(prefix) - len(suffix)
        rows: list[list[int]] = []
        owner: list[int] = []
        for i, ids in enumerate(content):
            if strategy == "head":
                pieces = [ids[:room]]
            elif strategy == "tail":
                pieces = [ids[-room:] if len(ids) > room else ids]
            elif strategy == "head_tail":
                half = room // 2
                pieces = [ids if len(ids) <= room else ids[:half] + ids[len(ids) - (room - half):]]
            else:
                overlap = min(room // 2, 128)
                step = max(1, room - overlap)
                starts = list(range(0, max(1, len(ids) - overlap), step)) or [0]
                pieces = [ids[s : s + room] for s in starts]
            for p in pieces:
                rows.append(prefix + list(p) + suffix)
                owner.append(i)
        return rows, owner

    def special_frame(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after one sequence ([CLS] … [SEP], <s> … </s>)."""
        content = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(content) + 1):
            if full[i : i + len(content)] == content:
                return list(full[:i]), list(full[i + len(content) :])
        return [], []

    # ---- batched, cached execution ---------------------------------------------------------------
    @contextlib.contextmanager
    def limited(self, tokens: int) -> Any:
        """Within this block ``map`` computes at most ``tokens`` tokens in all (``spent`` counts them);
        a call that would go past it raises ``BudgetExceeded`` before computing anything."""
        self.limit, self.spent = int(tokens), 0
        try:
            yield self
        finally:
            self.limit = None

    def map(
        self,
        primitive: str,
        ids: Sequence[Sequence[int]],
        forward: Callable[[Batch], list[np.ndarray]],
        *,
        extras: Sequence[Any] | None = None,
        desc: str | None = None,
    ) -> list[np.ndarray]:
        """``forward`` over every sequence, in the original order.

        ``primitive`` names the computation (and its parameters) for the cache key; ``extras`` are
        per-row values handed to ``forward`` and part of the key.
        """
        n = len(ids)
        if extras is not None and len(extras) != n:
            raise ValueError("extras must have one entry per sequence")
        ex = list(extras) if extras is not None else [None] * n
        keys = [
            make_key(self.fingerprint, primitive, np.asarray(s, dtype=np.int64).tobytes(), json.dumps(e, sort_keys=True, default=str))
            for s, e in zip(ids, ex)
        ]
        found = self.cache.get_many(keys)
        missing = {k for k in keys if k not in found}
        if self.world > 1:  # plan the same work everywhere: what any process lacks is computed
            from audit import distributed

            missing = {k for part in distributed.gather([sorted(missing)]) for k in part}
        todo_keys: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k in missing and k not in todo_keys:
                todo_keys[k] = i
        self.stats.cache_hits += n - len(todo_keys)  # served from the cache or a duplicate in this call
        todo = sorted(todo_keys.values(), key=lambda i: len(ids[i]), reverse=True)
        if self.limit is not None:
            needed = sum(len(ids[i]) for i in todo)
            if self.spent + needed > self.limit:
                raise BudgetExceeded(needed, self.spent, self.limit)
        trials, rest = self._trials(todo, ids)
        queue = deque(trials or self._plan(rest, ids))
        if self.world > 1:  # data-parallel: this process takes every world-th batch of the same plan
            queue = deque(list(queue)[self.rank :: self.world])
        bar = tqdm(total=sum(map(len, queue)) + (len(rest) if trials else 0), desc=desc or primitive, unit="seq",
                   disable=not self.progress or len(todo) < 64 or None, leave=False)
        computed: dict[str, np.ndarray] = {}
        try:
            while queue or trials:
                if not queue:  # the trial batches are done: keep the fastest budget, plan the rest with it
                    self._choose(trials)
                    trials, queue = [], deque(self._plan(rest, ids))
                    continue
                chunk = queue.popleft()
                try:
                    started = time.perf_counter()
                    outputs = self._forward(forward, [ids[i] for i in chunk], [ex[i] for i in chunk])
                    if trials:
                        self._timed[id(chunk)] = time.perf_counter() - started
                except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
                    if not _is_oom(exc):
                        raise
                    if len(chunk) == 1:
                        raise AuditError(f"out of memory on a single input of {len(ids[chunk[0]])} tokens on {self.device}; "
                                         "free memory, or use --dtype bf16 or --device cpu") from None
                    self._back_off(len(chunk), len(ids[chunk[0]]))
                    queue.extendleft(reversed(self._plan(chunk, ids)))
                    continue
                broken = sum(1 for o in outputs if np.isnan(o).any() or np.isposinf(o).any())
                if broken:
                    raise AuditError(f"the model returned NaN or infinite values ({primitive}) for {broken} of {len(chunk)} inputs; "
                                     f"its weights are broken or overflow in {self.dtype} — check the weights, or try --dtype fp32")
                new = {keys[i]: out for i, out in zip(chunk, outputs)}
                if self.world == 1:
                    self.cache.put_many(new)  # committed per batch: a killed run resumes from here
                computed.update(new)
                bar.update(len(chunk))
        finally:
            bar.close()
        if self.world > 1:
            from audit import distributed

            computed = dict(distributed.gather(list(computed.items())))
            self.cache.put_many(computed)
        found.update(computed)
        return [found[k] for k in keys]

    def _trials(self, todo: list[int], ids: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[int]]:
        """On a CPU, the first call with enough work runs its longest items as trial batches, two interleaved
        rounds of each candidate budget; returns the trial batches (each tagged in ``_trial_of``) and the rest."""
        work = sum(len(ids[i]) for i in todo)
        if not self.tune or self.world > 1 or len(todo) < 64 or work < 4 * TRIAL_TOKENS * len(CPU_CANDIDATES):
            return [], todo
        self.tune = False
        self._trial_of: dict[int, tuple[int, int]] = {}
        self._timed: dict[int, float] = {}
        chunks, pos = [], 0
        for _ in range(2):
            for budget in CPU_CANDIDATES:
                spent = 0
                while spent < TRIAL_TOKENS and pos < len(todo):
                    width = padded(len(ids[todo[pos]]))
                    rows = 1 if budget == 0 else max(1, budget // width)
                    chunk = todo[pos : pos + rows]
                    pos += len(chunk)
                    spent += sum(len(ids[i]) for i in chunk)
                    self._trial_of[id(chunk)] = (budget, sum(len(ids[i]) for i in chunk))
                    chunks.append(chunk)
        return chunks, todo[pos:]

    def _choose(self, trials: list[list[int]]) -> None:
        """Keep the candidate with the lowest time per token over its trial batches."""
        seconds: dict[int, float] = {}
        tokens: dict[int, int] = {}
        for chunk in trials:
            budget, n = self._trial_of[id(chunk)]
            seconds[budget] = seconds.get(budget, 0.0) + self._timed.get(id(chunk), math.inf)
            tokens[budget] = tokens.get(budget, 0) + n
        self.rows_budget = min(seconds, key=lambda b: (seconds[b] / max(tokens[b], 1), b))
        self.stats.cpu_batch_tokens = self.rows_budget

    def _plan(self, todo: list[int], ids: Sequence[Sequence[int]]) -> list[list[int]]:
        """Batches of the (length-sorted) items: as many rows as fit the token budget (the CPU trial's choice
        when one ran; 0 means one row per batch)."""
        budget = self.token_budget if self.rows_budget is None else self.rows_budget
        chunks, pos = [], 0
        while pos < len(todo):
            first = padded(len(ids[todo[pos]]))
            rows = max(1, budget // first)
            if self.batch_size is not None:
                rows = min(rows, self.batch_size)
            chunks.append(todo[pos : pos + rows])
            pos += rows
        return chunks

    def _back_off(self, rows: int, length: int) -> None:
        self.stats.oom_backoffs += 1
        self.token_budget = max(padded(length), (rows // 2) * padded(length))
        if self.batch_size is not None:
            self.batch_size = max(1, rows // 2)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _forward(self, forward: Callable[[Batch], list[np.ndarray]], seqs: list[Sequence[int]], extras: list[Any]) -> list[np.ndarray]:
        width = padded(max(len(s) for s in seqs))
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            input_ids[r, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
            mask[r, : len(s)] = 1
        batch = Batch(input_ids.to(self.device), mask.to(self.device), [len(s) for s in seqs], extras)
        start = time.perf_counter()
        with torch.inference_mode(), self.autocast():
            outputs = forward(batch)
        self.stats.seconds += time.perf_counter() - start
        self.stats.forward_calls += 1
        self.stats.sequences += len(seqs)
        self.stats.tokens += sum(batch.lengths)
        self.spent += sum(batch.lengths)
        return outputs

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.dtype in (torch.bfloat16, torch.float16):
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()


def padded(n: int, multiple: int = PAD_MULTIPLE) -> int:
    """A row of ``n`` tokens padded up to a multiple of ``multiple`` (8 suits GPU tensor cores)."""
    return int(math.ceil(max(n, 1) / multiple) * multiple)
