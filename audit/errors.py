"""User-facing errors: one line that names the problem and the fix, exit code 2."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class AuditError(Exception):
    """A problem with the user's input (model, config, data, flags).

    The CLI prints ``str(error)`` on one line and exits with code 2; no traceback.
    """

    exit_code = 2


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A " (did you mean X?)" suffix naming the closest choices, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + ", ".join(repr(c) for c in close) + "?)"


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> AuditError:
    """An AuditError for an unknown name, with close matches and the full list."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    listing = ", ".join(choices) if len(choices) <= 12 else ", ".join(choices[:12]) + ", …"
    return AuditError(f"unknown {kind} {name!r}{hint}; choose from: {listing}")


class BudgetExceeded(AuditError):
    """A ``map`` call would take the probe past its token budget (raised by the engine before any forward pass;
    ``audit.budget`` fits the probe under it)."""

    def __init__(self, needed: int, spent: int, limit: int) -> None:
        self.needed, self.spent, self.limit = needed, spent, limit
        super().__init__(f"this step needs {needed:,} more tokens through the model, {spent:,} are spent, "
                         f"and the budget is {limit:,}")
