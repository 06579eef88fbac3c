"""transformer-audit: audit Hugging Face transformer models before they ship."""
from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.results import AuditResult, Case, Chart, Gate, Metric, ModelInfo, ProbeResult

if TYPE_CHECKING:  # pragma: no cover - importing models costs torch; `audit --version` stays fast
    from audit.models import AuditedModel

__all__ = ["AuditError", "AuditResult", "Case", "Chart", "Gate", "Metric", "ModelInfo", "ProbeResult", "__version__", "load", "run"]


def load(spec: Any = "default", **kwargs: Any) -> AuditedModel:
    """Load a model spec into an adapter (:func:`audit.models.load`), or wrap a model in memory: a Pipeline,
    a PreTrainedModel with ``tokenizer=``, a SentenceTransformer (:func:`audit.models.adapt`)."""
    import os

    from audit.models import adapt
    from audit.models import load as _load

    return _load(str(spec), **kwargs) if isinstance(spec, (str, os.PathLike)) else adapt(spec, **kwargs)


def run(model: Any = "default", **kwargs: Any) -> AuditResult:
    """Run an audit and return an :class:`AuditResult`; see :func:`audit.runner.run_audit`."""
    from audit.runner import run_audit

    return run_audit(model, **kwargs)
