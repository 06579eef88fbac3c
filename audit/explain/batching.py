"""Many examples per call: length-sorted chunks under a token budget, padded together with attention
masks, autocast on GPU, and the budget halved on CUDA out-of-memory (then remembered).

On a CPU a captum call on a few examples already fills the cores (IG expands each example n_steps times), so
there padding is pure waste: chunks are cut where a row would carry more than MAX_CPU_PADDING of padding,
and rows are not rounded up to a multiple of 8 (that rounding is for GPU tensor cores)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from audit.engine import PAD_MULTIPLE, padded
from audit.explain.targets import Head, Target
from audit.explain.words import Encoded

MAX_CPU_PADDING = 0.25
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """One example to attribute: the encoded text, its fixed target and, for a contrastive job, the baseline
    row (the token-aligned counterfactual; None = the text with every non-special token set to the baseline id)."""

    enc: Encoded
    target: Target
    baseline: tuple[int, ...] | None = None


@dataclass
class Packed:
    """A padded chunk on the device; every tensor after ``input_ids`` rides along as a forward argument."""

    input_ids: torch.Tensor
    baseline_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    token_type_ids: torch.Tensor
    target_index: torch.Tensor
    target_pos: torch.Tensor
    reference: torch.Tensor
    word_mask: torch.Tensor

    @property
    def forward_args(self) -> tuple[torch.Tensor, ...]:
        return (self.attention_mask, self.position_ids, self.token_type_ids, self.target_index, self.target_pos, self.reference)


def pad_multiple(device: torch.device) -> int:
    return PAD_MULTIPLE if device.type == "cuda" else 1


def pack(head: Head, rows: Sequence[Sequence[int]], targets: Sequence[Target], positions: Sequence[int],
         baseline_id: int, specials: Sequence[Sequence[bool]] | None = None,
         words: Sequence[Sequence[int | None]] | None = None,
         baselines: Sequence[Sequence[int] | None] | None = None) -> Packed:
    """Pad ``rows`` to one width. The baseline keeps special tokens and puts ``baseline_id`` elsewhere, unless
    ``baselines`` gives a row's own baseline (same length as the row); the word mask numbers each row's words from 0 and gives specials and padding one shared extra id."""
    width = padded(max(len(r) for r in rows), pad_multiple(head.device))
    pad_id = head.adapter.engine.pad_id
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    base = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    n_words = max((max((w for w in ws if w is not None), default=-1) + 1 for ws in words), default=0) if words else 0
    word_mask = torch.full((n, width), n_words, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
        mask[i, : len(r)] = 1
        sp = specials[i] if specials is not None else [False] * len(r)
        own = baselines[i] if baselines is not None else None
        base[i, : len(r)] = torch.tensor(list(own) if own is not None else [t if s else baseline_id for t, s in zip(r, sp)],
                                         dtype=torch.long)
        if words is not None:
            word_mask[i, : len(r)] = torch.tensor([n_words if w is None else w for w in words[i]], dtype=torch.long)
    reference = head.reference_tensor(targets)
    types = torch.zeros_like(ids)
    for i, (r, t) in enumerate(zip(rows, targets)):
        if t.segment > 0:  # token type 1 from the second segment to the end of the row, 0 on padding
            types[i, t.segment : len(r)] = 1
    dev = head.device
    mask = mask.to(dev)
    return Packed(ids.to(dev), base.to(dev), mask, head.position_ids(mask), types.to(dev),
                  torch.tensor([t.index for t in targets], device=dev), torch.tensor(list(positions), device=dev),
                  reference.to(dev), word_mask.to(dev))


class Budget:
    """Rows per forward from a token budget; halved on CUDA out-of-memory and remembered.

    Off a GPU a chunk also ends before a row whose length is below 1 / (1 + MAX_CPU_PADDING) of the chunk's
    longest, so no row carries more than that fraction of padding.
    """

    def __init__(self, tokens: int, device: torch.device) -> None:
        self.tokens = tokens
        self.multiple = pad_multiple(device)
        self.max_padding = None if device.type == "cuda" else MAX_CPU_PADDING
        self.backoffs = 0

    def rows(self, width: int) -> int:
        return max(1, self.tokens // padded(width, self.multiple))

    def run_chunks(self, lengths: Sequence[int], work: Callable[[list[int], int], list[T]]) -> list[T]:
        """Call ``work(indices, rows_per_forward)`` on length-sorted chunks; results in the original order."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        results: dict[int, T] = {}
        pos = 0
        while pos < len(order):
            rows = self.rows(lengths[order[pos]])
            chunk = order[pos : pos + rows]
            if self.max_padding is not None:
                floor = lengths[order[pos]] / (1 + self.max_padding)
                chunk = [i for i in chunk if lengths[i] >= floor]  # sorted: a prefix of the slice
            try:
                outs = work(chunk, rows)
            except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
                if "out of memory" not in str(exc).lower() or self.tokens <= PAD_MULTIPLE:
                    raise
                self.tokens //= 2
                self.backoffs += 1
                torch.cuda.empty_cache()
                continue
            results.update(zip(chunk, outs))
            pos += len(chunk)
        return [results[i] for i in range(len(lengths))]


def score_rows(head: Head, rows: Sequence[Sequence[int]], targets: Sequence[Target], positions: Sequence[int],
               budget: Budget) -> np.ndarray:
    """The attributed quantity on many token rows without gradients (faithfulness, F(x), F(x'))."""
    if not rows:
        return np.zeros(0)

    def work(chunk: list[int], _: int) -> list[float]:
        p = pack(head, [rows[i] for i in chunk], [targets[i] for i in chunk], [positions[i] for i in chunk], 0)
        with torch.inference_mode(), head.adapter.engine.autocast():
            return head.forward(p.input_ids, *p.forward_args).float().cpu().tolist()

    return np.asarray(budget.run_chunks([len(r) for r in rows], work), dtype=np.float64)
