"""The runner's entry point to explanations: the telling cases, served from the output cache when they were explained
before. Kept apart from the explainer so that a re-run served from the cache imports neither captum nor the
attribution code (seconds at every start)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from audit.explain.names import COMPLETENESS_TOL

if TYPE_CHECKING:  # pragma: no cover
    from audit.results import Case
    from audit.tasks.base import AuditedModel

CASE_STEPS = 16
"""IG steps for the runner's cases: Gauss–Legendre with 16 nodes differs from 50 by under 4% of the top word score
on the default model (bench/bench_explain.py), and any example whose completeness gap exceeds the tolerance is
re-run with more steps anyway."""


def explain_cases(
    model: AuditedModel,
    cases: Sequence[Case],
    *,
    method: str = "ig",
    max_cases: int = 64,
    n_steps: int = CASE_STEPS,
    completeness_tol: float = COMPLETENESS_TOL,
) -> list[dict[str, Any]]:
    """Explain the probes' telling cases (and each counterfactual pair, for the same target) in one batched
    call; returns JSON-ready dicts for AuditResult.explanations. Long texts are truncated (and say so); a
    case the model cannot explain (e.g. a target it does not have) gets an ``error`` instead."""
    from audit.errors import unknown_name
    from audit.explain.names import METHODS

    cases = list(cases)[:max_cases]
    if not cases:
        return []
    if method not in METHODS:
        raise unknown_name("explanation method", method, METHODS)
    cache, key = model.engine.cache, _cases_key(model, cases, method, n_steps, completeness_tol)
    cached = cache.get_json(key)
    if isinstance(cached, list):
        model.engine.stats.explanations_cached += len(cached)
        return cached
    from audit.explain.explainer import _explain_cases

    out = _explain_cases(model, cases, method, n_steps, completeness_tol)
    cache.put_json(key, out)
    return out


def _cases_key(model: AuditedModel, cases: Sequence[Case], method: str, n_steps: int, completeness_tol: float) -> str:
    """Everything the rows depend on: the model (fingerprint, device, dtype), the library versions, the settings
    and every case in order (the faithfulness summary is over the whole set)."""
    import audit
    from audit.cache import make_key

    engine = model.engine
    return make_key(
        "explain_cases/3",
        engine.fingerprint,
        str(engine.device),
        str(engine.dtype),
        audit.__version__,
        version("captum"),
        version("torch"),
        method,
        repr(n_steps),
        repr(float(completeness_tol)),
        json.dumps([[c.text, c.pair, c.target, c.reason, c.score, c.meta] for c in cases], sort_keys=True, default=str),
    )
