"""The parameters and checks every long-input probe shares: the length grid, the depths and the token cap."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit.errors import AuditError
from probes.base import Probe, param
from probes.long_input import haystack

if TYPE_CHECKING:  # pragma: no cover
    from audit.tasks.base import AuditedModel


class GridProbe(Probe):
    """A probe over a length × depth grid. ``lengths`` overrides the log grid from ``min_length`` to twice the
    model's limit (``n_lengths`` points); nothing longer than ``max_tokens`` is built. ``min_length=None`` starts
    at 32 tokens, or higher when the longest needle needs it (small-vocabulary tokenizers)."""

    lengths: Sequence[int] | None = param(None,
                 "input lengths in tokens; unset: a log grid from min_length to twice the model's limit")
    min_length: int | None = param(None,
                 "shortest length of the log grid; unset: 32 tokens, or what the longest needle needs")
    n_lengths: int = param(5, "points on the log grid of lengths")
    depths: Sequence[float] = param(haystack.DEPTHS,
                 "where the needle sits, as fractions of the input (0 start, 1 end)")
    max_tokens: int = param(haystack.MAX_TOKENS, "longest input built, in tokens")

    def grid(self, model: AuditedModel, needed: int) -> tuple[int, list[int], list[str]]:
        """The limit in force, the lengths (ascending) and warnings; AuditError on bad parameters. ``needed``
        is the most tokens one needle takes (the shortest length must hold it)."""
        limit = haystack.check_limit(model, self.name)
        if not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise AuditError(f"{self.name}: depths must be fractions between 0 and 1, got {self.depths}")
        start = self.min_length if self.min_length is not None else max(32, -(-needed // 8) * 8)
        grid, warnings = haystack.length_grid(limit, lengths=self.lengths, min_length=start,
                                              n_lengths=self.n_lengths, max_tokens=self.max_tokens, probe=self.name)
        self._grid = grid
        return limit, grid, warnings

    def shrink(self) -> str | None:
        """The cost of a length grid is its longest inputs: first keep depths 0, ½ and 1, then three lengths, then
        halve the longest length (the grid then stops short of twice the limit, and its warning says so), then
        two lengths, and only then fewer cases."""
        grid = getattr(self, "_grid", None) or []
        if len(self.depths) > 3:
            old, self.depths = self.depths, [min(self.depths), sorted(self.depths)[len(self.depths) // 2], max(self.depths)]
            return f"depths {old} → {self.depths}"
        if self.lengths is None and self.n_lengths > 3:
            old_n, self.n_lengths = self.n_lengths, 3
            return f"n_lengths {old_n} → 3"
        if self.lengths is not None and len(self.lengths) > 3:
            old_l, self.lengths = self.lengths, [grid[0], grid[len(grid) // 2], grid[-1]] if grid else self.lengths[:3]
            return f"lengths {old_l} → {self.lengths}"
        if len(grid) >= 2 and grid[-1] // 2 > grid[0]:
            if self.lengths is not None:
                old_l, self.lengths = self.lengths, sorted({n for n in self.lengths if n <= grid[-1] // 2} | {grid[-1] // 2})
                return f"lengths {old_l} → {self.lengths}"
            old_t, self.max_tokens = self.max_tokens, grid[-1] // 2
            return f"longest input {grid[-1]} → {self.max_tokens} tokens (max_tokens {old_t} → {self.max_tokens})"
        if self.lengths is None and self.n_lengths > 2:
            self.n_lengths = 2
            return "n_lengths 3 → 2"
        if len(self.depths) > 1:
            old, self.depths = self.depths, [sorted(self.depths)[len(self.depths) // 2]]
            return f"depths {old} → {self.depths}"
        return super().shrink()

    def needle_grid(self, model: AuditedModel, needles: Sequence[str]) -> tuple[int, list[int], list[str]]:
        """``grid`` for these needles, each checked to fit the shortest length (AuditError otherwise)."""
        limit, lengths, warnings = self.grid(model, max(haystack.check_needles(model.tokenizer, needles, None, self.name)))
        haystack.check_needles(model.tokenizer, needles, lengths[0], self.name)
        return limit, lengths, warnings
