"""Deprecated: ``audit.models`` was split into ``audit.loading`` (load, adapt, spec resolution) and
``audit.tasks`` (one module per task head). The old names keep working for one release, with a
DeprecationWarning that names the new home."""
from __future__ import annotations

from audit._moved import moved_names

_MOVED = {
    **dict.fromkeys(("load", "adapt", "length_limit", "hub_cache_dir", "DEFAULT_SHA256", "DEFAULT_REVISION",
                     "DEFAULT_MAX_LENGTH"), "audit.loading"),
    **dict.fromkeys(("TASKS", "head_of"), "audit.tasks"),
    **dict.fromkeys(("AuditedModel", "TokenScores"), "audit.tasks.base"),
    "TextClassifier": "audit.tasks.text_classification",
    **dict.fromkeys(("TokenClassifier", "TokenPrediction"), "audit.tasks.token_classification"),
    "MaskedLM": "audit.tasks.masked_lm",
    "CausalLM": "audit.tasks.causal_lm",
    "SentenceEncoder": "audit.tasks.sentence_embedding",
    **dict.fromkeys(("ZeroShotClassifier", "SENTIMENT_PROTOTYPES", "ZERO_SHOT_TEMPERATURE"), "audit.tasks.zero_shot"),
}


__getattr__ = moved_names("audit.models", _MOVED)


def __dir__() -> list[str]:
    return sorted(_MOVED)
