"""Old import paths kept for one release: a module-level ``__getattr__`` (PEP 562) that fetches a moved name
from its new module with a DeprecationWarning naming the new home."""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved_names(old: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for module ``old`` whose names in ``homes`` now live in the module named there."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} moved to {homes[name]}.{name}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(homes[name]), name)

    return __getattr__
