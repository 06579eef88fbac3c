"""transformer-audit: audit Hugging Face transformer models before they ship."""
from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.results import AuditResult, Case, Chart, Gate, Metric, ModelInfo, ProbeResult

if TYPE_CHECKING:  # pragma: no cover - importing the adapters costs torch; `audit --version` stays fast
    from audit.progress import Progress
    from audit.run_spec import RunSpec
    from audit.tasks.base import AuditedModel

__all__ = ["AuditError", "AuditResult", "Case", "Chart", "Gate", "Metric", "ModelInfo", "ProbeResult", "RunSpec", "__version__",
           "load", "run"]


def load(spec: Any = "default", **kwargs: Any) -> AuditedModel:
    """Load a model spec into an adapter (:func:`audit.loading.load`), or wrap a model in memory: a Pipeline,
    a PreTrainedModel with ``tokenizer=``, a SentenceTransformer (:func:`audit.loading.adapt`)."""
    import os

    from audit.loading import adapt
    from audit.loading import load as _load

    return _load(str(spec), **kwargs) if isinstance(spec, (str, os.PathLike)) else adapt(spec, **kwargs)


def run(model: Any = "default", /, *, progress: bool | Progress = True, **options: Any) -> AuditResult:
    """Run an audit and return an :class:`AuditResult`: ``run(spec)`` with a :class:`RunSpec`, or
    ``run(model, **options)`` with the RunSpec's fields as keywords (``suites=["bias"], explain=False``).
    ``progress``: True (a bar on stderr), False, or an ``audit.progress.Progress`` to report into."""
    from audit.run_spec import RunSpec
    from audit.runner import run as run_spec

    if isinstance(model, RunSpec):
        if options:
            raise AuditError(f"pass either a RunSpec or options, not both (got {', '.join(options)}); use spec.replace(...)")
        return run_spec(model, progress=progress)
    return run_spec(RunSpec.create(model=model, **options), progress=progress)


def __getattr__(name: str) -> Any:
    """``audit.RunSpec`` imports pydantic: only when asked for, so ``import audit`` stays light."""
    if name == "RunSpec":
        from audit.run_spec import RunSpec

        return RunSpec
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
