"""The ranges that whole-number settings must lie in: one rule for the config file and the command line.

A number that passes ``audit validate`` must not crash ``audit run``: seeds reach ``torch.manual_seed``
(a 64-bit integer) and counts reach numpy and torch (which take machine integers), so both are checked
against these ranges before anything runs. Light on purpose: the CLI parser imports it.
"""
from __future__ import annotations

import argparse

SEED_MAX = 2**63 - 1
"""Largest seed: torch.manual_seed takes a signed 64-bit integer (numpy gets the seed modulo 2**32)."""
COUNT_MAX = 2**31 - 1
"""Largest count (cases, batch rows, explanations): a 32-bit index, far beyond any real audit."""
INT_MAX = 2**63 - 1
"""Largest magnitude of any other whole number (probe parameters): a signed 64-bit integer."""


def int_problem(value: int, minimum: int, maximum: int) -> str | None:
    """Why ``value`` is out of range (None when it is in range); digits are not printed in full."""
    if minimum <= value <= maximum:
        return None
    shown = str(value) if value.bit_length() <= 80 else f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    if value < minimum:
        return f"must be at least {minimum}, got {shown}"
    return f"must be at most {maximum}, got {shown}"


def whole_arg(value: str, minimum: int, maximum: int) -> int:
    """argparse: a whole number in the range the config file allows for the same setting."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value[:40]!r}") from None
    problem = int_problem(n, minimum, maximum)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return n


def positive_arg(value: str) -> int:
    return whole_arg(value, 1, COUNT_MAX)


def seed_arg(value: str) -> int:
    return whole_arg(value, 0, SEED_MAX)


DEFAULT_TOLERANCE = 0.02
"""The default regression tolerance of `audit run --baseline`, `audit gate --baseline`, `audit compare` and the
config's ``baseline.tolerance``: how much worse than the baseline's (in the metric's own unit, on the scale of
audit.gates.badness) a metric may get. Defined here, where the CLI parser can read it without loading the stats."""


def tolerance_arg(value: str) -> float:
    """A finite, non-negative regression allowance (the config's ``baseline.tolerance`` rule)."""
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value[:40]!r}") from None
    if not 0 <= t < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {value[:40]}; use 0 to allow no regression")
    return t
