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
