"""Explanations with captum: batched, faithful attributions for every task head.

>>> from audit.loading import load                                     # doctest: +SKIP
>>> from audit.explain import explain, render_table                    # doctest: +SKIP
>>> print(render_table(explain(load("default"), ["I love this film"])))  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

_WHERE = {"explain": "explainer", "explain_cases": "cases", "BASELINES": "explainer", "COMPLETENESS_TOL": "names",
          "METHODS": "names", "render_html": "render", "render_table": "render", "ExplanationSet": "result",
          "Explanation": "result", "Attribution": "result"}


def __getattr__(name: str) -> Any:
    """Import on first use (PEP 562): `audit --version` and `audit explain --help` need neither torch nor captum."""
    if name not in _WHERE:
        raise AttributeError(f"module 'audit.explain' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"audit.explain.{_WHERE[name]}"), name)


__all__ = [
    "BASELINES",
    "COMPLETENESS_TOL",
    "METHODS",
    "Attribution",
    "Explanation",
    "ExplanationSet",
    "explain",
    "explain_cases",
    "render_html",
    "render_table",
]
