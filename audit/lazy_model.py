"""A model built on first use, so that an audit served wholly from the cache never builds it.

Building a transformers model imports its modeling module and reads the weights (seconds on a CPU). What an
audit needs before its first forward pass (fingerprint, labels, limits, parameter count) comes from the files,
plus the few facts only a built model knows (architecture class, parameter count, embedding rows, the loading
report), which the last real build of the same files recorded in the output cache. The record's key covers
the files' contents (weights SHA-256 and every config and tokenizer file), the load options, the library
versions and the toolkit's own code, so it is exact; and when the model is built after all, its facts are
checked against the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

    from audit.cache import OutputCache

FORMAT = "model-facts/1"


@dataclass(frozen=True)
class ModelFacts:
    """What only a built model tells: its class, parameter count, embedding rows and transformers' loading report."""

    architecture: str
    parameters: int
    embedding_rows: int | None
    loading: dict[str, list[Any]]


def facts_of(model: PreTrainedModel, loading: dict[str, Any] | None = None) -> ModelFacts:
    """The facts of a built model (``loading``: transformers' report of missing, unexpected, mismatched tensors)."""
    rows = getattr(model.get_input_embeddings(), "num_embeddings", None)
    report = {
        k: sorted([str(x) for x in v] if isinstance(v, (tuple, list)) else str(v) for v in (loading or {}).get(k) or ())
        for k in ("missing_keys", "unexpected_keys", "mismatched_keys")
    }  # JSON-ready, in a fixed order
    return ModelFacts(
        type(model).__name__,
        int(sum(p.numel() for p in model.parameters())),
        None if rows is None else int(rows),
        report,
    )


def describe(model: Any) -> ModelFacts:
    """The facts of a built model or of a lazy one (from its record, without building it)."""
    return model.facts if isinstance(model, LazyModel) else facts_of(model)


def facts_key(parts: dict[str, Any]) -> str:
    """Key of the facts record: the caller's description of the files and options, library versions, toolkit code."""
    from audit.cache import make_key
    from audit.fingerprint import versions
    from audit.versions import code_fingerprint

    return make_key(
        FORMAT,
        json.dumps(parts, sort_keys=True, default=str),
        json.dumps(versions(), sort_keys=True),
        code_fingerprint(),
    )


def recall(cache: OutputCache, key: str) -> ModelFacts | None:
    doc = cache.get_json(key)
    if not isinstance(doc, dict):
        return None
    try:
        return ModelFacts(**doc)
    except TypeError:  # a record of another shape: build the model and record it anew
        return None


def remember(cache: OutputCache, key: str, facts: ModelFacts) -> None:
    cache.put_json(key, asdict(facts))


class LazyModel:
    """Stands in for the torch model until an adapter touches ``model``: ``resolve()`` builds it once and checks it
    against the recorded facts. ``config`` is the model's configuration, read from config.json without building."""

    def __init__(
        self, facts: ModelFacts, config: Any, build: Callable[[], tuple[PreTrainedModel, dict[str, Any]]]
    ) -> None:
        self.facts = facts
        self.config = config
        self._build = build

    def resolve(self) -> PreTrainedModel:
        model, loading = self._build()
        built = facts_of(model, loading)
        if built != self.facts:
            raise AuditError(
                f"the model built from the files differs from the record of their last build ({built.architecture}, "
                f"{built.parameters:,} parameters; recorded {self.facts.architecture}, {self.facts.parameters:,}): "
                "were the files changed during the run? run the audit again"
            )
        if getattr(model.config, "pad_token_id", None) is None:  # set on the stand-in's config by the adapter's set-up
            model.config.pad_token_id = getattr(self.config, "pad_token_id", None)
        return model

    def __repr__(self) -> str:
        return f"LazyModel({self.facts.architecture}, not built yet)"
