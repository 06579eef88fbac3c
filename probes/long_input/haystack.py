"""Haystacks of exact token lengths: a length grid, a varied neutral filler stream, needles placed at depths.

Lengths are counted in the audited tokenizer's tokens, special tokens included (what the model is fed
before any truncation). Every haystack's filler is a prefix of one shuffled filler stream, so texts of
different lengths share their beginnings (which the engine's cache turns into shared forward passes) and
only the needle varies between the texts of one length and depth.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.errors import AuditError
from probes.long_input.texts import FILLER

if TYPE_CHECKING:  # pragma: no cover
    from audit.engine import Engine
    from audit.tasks.base import AuditedModel

DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_TOKENS = 8192
"""Default cap on the longest input a probe builds; the engine's token budget bounds memory below it."""


@dataclass(frozen=True)
class Haystack:
    """One long input: filler with a needle at a relative depth. Token positions include special tokens."""

    text: str
    needle: int
    length: int
    depth: float
    tokens: int
    needle_start: int
    needle_end: int


def check_limit(model: AuditedModel, probe: str) -> int:
    """The maximum length in force; an AuditError when the model declares none (the toolkit's default is then
    in force and a length audit would measure the toolkit, not the model)."""
    if "no limit in the config" in model.info.provenance:
        raise AuditError(
            f"{probe}: {model.info.spec} declares no maximum length ({model.info.provenance}); set model_max_length "
            "in tokenizer_config.json or max_position_embeddings in config.json to the model's real limit and re-run"
        )
    return int(model.max_length)


def length_grid(max_length: int, *, lengths: Sequence[int] | None, min_length: int, n_lengths: int,
                max_tokens: int, probe: str) -> tuple[list[int], list[str]]:
    """The lengths to test (ascending) and warnings: ``lengths`` as given, else a log grid from
    ``min_length`` to twice the model's limit, capped at ``max_tokens``."""
    if max_tokens < 1:
        raise AuditError(f"{probe}: max_tokens must be a positive number of tokens, got {max_tokens}")
    warnings: list[str] = []
    if lengths is not None:
        grid = sorted({int(n) for n in lengths})
        if not grid or grid[0] < 1:
            raise AuditError(f"{probe}: lengths must be positive token counts, got {list(lengths)}")
        if grid[-1] > max_tokens:
            raise AuditError(f"{probe}: length {grid[-1]} is beyond max_tokens={max_tokens}; drop it from lengths or raise max_tokens")
        return grid, warnings
    if n_lengths < 2:
        raise AuditError(f"{probe}: n_lengths must be at least 2, got {n_lengths}")
    top = 2 * max_length
    if top > max_tokens:
        warnings.append(f"the grid stops at max_tokens={max_tokens}, below twice the model's limit ({top}); raise max_tokens to test up to {top}")
        top = max_tokens
    if min_length >= top:
        raise AuditError(f"{probe}: min_length={min_length} is not below the longest length {top}; lower min_length")
    grid = sorted({int(round(v)) for v in np.geomspace(min_length, top, n_lengths)})
    return grid, warnings


class FillerStream:
    """A long neutral text (the filler sentences, shuffled, reshuffled on every pass) cut at word boundaries."""

    def __init__(self, tokenizer: Any, n_tokens: int, seed: int, sentences: Sequence[str] = FILLER) -> None:
        rng = random.Random(seed)
        parts: list[str] = []
        per_pass = sum(len(tokenizer(" " + s, add_special_tokens=False)["input_ids"]) for s in sentences)
        for _ in range(n_tokens // max(per_pass, 1) + 2):
            order = list(sentences)
            rng.shuffle(order)
            parts.extend(order)
        self.text = " ".join(parts)
        enc = tokenizer(self.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        word_ids = enc.word_ids()
        self.ends = [end for _, end in enc["offset_mapping"]]
        self.boundaries = [t for t in range(1, len(word_ids)) if word_ids[t] != word_ids[t - 1]] + [len(word_ids)]

    def cut(self, n_tokens: int) -> int:
        """The largest word boundary (in tokens) at or below ``n_tokens``."""
        i = int(np.searchsorted(self.boundaries, n_tokens, side="right")) - 1
        return self.boundaries[i] if i >= 0 else 0

    def prefix(self, n_tokens: int) -> str:
        t = self.cut(n_tokens)
        return self.text[: self.ends[t - 1]] if t > 0 else ""


def frame_size(tokenizer: Any) -> int:
    """Special tokens added around one sequence ([CLS] … [SEP] is 2)."""
    return int(tokenizer.num_special_tokens_to_add(pair=False))


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens each text would be fed as, special tokens included, before any truncation (one bulk call)."""
    if not texts:
        return []
    enc = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return [len(ids) + frame_size(tokenizer) for ids in enc]


def check_needles(tokenizer: Any, needles: Sequence[str], shortest: int | None, probe: str) -> list[int]:
    """Token counts of the needles; an AuditError for an empty needle or one that does not fit the shortest length
    (when given)."""
    if not needles:
        raise AuditError(f"{probe}: needles is empty; pass at least one short sentence")
    for i, n in enumerate(needles):
        if not isinstance(n, str) or not n.strip():
            raise AuditError(f"{probe}: needle {i} is empty; pass a short sentence with a clear answer")
    sizes = count_tokens(tokenizer, needles)
    for n, size in zip(needles, sizes):
        if shortest is not None and size > shortest:
            raise AuditError(f"{probe}: the needle {n[:40]!r} has {size} tokens, more than the shortest length {shortest}; "
                             "shorten it or raise min_length / the first of lengths")
    return sizes


def build(engine: Engine, needles: Sequence[str], lengths: Sequence[int], depths: Sequence[float], seed: int) -> list[Haystack]:
    """Every (needle, length, depth) haystack, in that nesting order."""
    tokenizer = engine.tokenizer
    stream = FillerStream(tokenizer, max(lengths), seed)
    frame = frame_size(tokenizer)
    lead = len(engine.special_frame()[0])
    plans = []
    for i, needle in enumerate(needles):
        size = count_tokens(tokenizer, [needle])[0] - frame
        for length in lengths:
            room = stream.cut(max(0, length - frame - size))
            for depth in depths:
                at = stream.cut(int(round(depth * room)))
                before = stream.text[: stream.ends[at - 1]] if at > 0 else ""
                after = stream.text[stream.ends[at - 1] if at > 0 else 0 : stream.ends[room - 1] if room > 0 else 0].strip()
                head = (before + " " + needle).strip()
                plans.append((i, length, depth, head, " ".join(p for p in (head, after) if p)))
    head_sizes = count_tokens(tokenizer, [p[3] for p in plans])
    total_sizes = count_tokens(tokenizer, [p[4] for p in plans])
    needle_sizes = dict(enumerate(count_tokens(tokenizer, needles)))
    out = []
    for (i, length, depth, _, text), head_size, total in zip(plans, head_sizes, total_sizes):
        end = head_size - frame + lead
        out.append(Haystack(text=text, needle=i, length=length, depth=depth, tokens=total,
                            needle_start=end - (needle_sizes[i] - frame), needle_end=end))
    return out


def needle_seen(h: Haystack, strategy: str, limit: int, engine: Engine) -> bool:
    """Whether every needle token reaches the model under ``strategy`` (windows cover the whole input)."""
    lead, trail = (len(part) for part in engine.special_frame())
    room = limit - lead - trail
    start, end, total = h.needle_start - lead, h.needle_end - lead, h.tokens - lead - trail
    if total <= room or strategy.startswith("window"):
        return True
    if strategy in ("truncate", "head"):
        return end <= room
    if strategy == "tail":
        return start >= total - room
    return end <= room // 2 or start >= total - (room - room // 2)


def filler_only(tokenizer: Any, lengths: Sequence[int], seed: int) -> list[str]:
    """The filler alone at each length (the same stream as the haystacks)."""
    stream = FillerStream(tokenizer, max(lengths), seed)
    return [stream.prefix(max(0, n - frame_size(tokenizer))) for n in lengths]

