"""The task heads this version audits: one module each, holding its adapter, its explanation target and its
entry in ``HEADS``, the one table that loading (``audit.loading``) and explanations read.

Adding a head: a module here with an ``AuditedModel`` subclass, an ``audit.explain.targets.Head`` subclass and
an ``ENTRY``, listed in ``_MODULES``.
"""
from __future__ import annotations

from typing import Any

from audit.errors import AuditError
from audit.explain.targets import Head
from audit.tasks import (
    causal_lm,
    masked_lm,
    question_answering,
    sentence_embedding,
    seq2seq,
    text_classification,
    token_classification,
    zero_shot,
)
from audit.tasks.base import AuditedModel, Settings, TokenScores
from audit.tasks.entry import TaskHead

_MODULES = (text_classification, token_classification, masked_lm, causal_lm, sentence_embedding, zero_shot,
            question_answering, seq2seq)

HEADS: dict[str, TaskHead] = {m.ENTRY.name: m.ENTRY for m in _MODULES}
"""Every task head by its name (the transformers pipeline task names)."""

TASKS: tuple[str, ...] = tuple(HEADS)

_ARCHITECTURES = sorted(((suffix, h.name) for h in HEADS.values() for suffix in h.architectures), key=lambda p: -len(p[0]))
"""(architecture suffix, task), longest suffix first: ``GPT2LMHeadModel`` is a causal LM, not a bare ``Model``."""


def head_of(config: dict[str, Any], is_sentence_transformer: bool) -> tuple[str, str, bool]:
    """(task, why, guessed): the head named by config.json's architectures; ``guessed`` when none is named."""
    if is_sentence_transformer:
        return "feature-extraction", "a sentence-transformers folder (modules.json): sentence embeddings", False
    archs = config.get("architectures") or []
    for arch in archs:
        for suffix, task in _ARCHITECTURES:
            if str(arch).endswith(suffix):
                return task, f"{task} from the architecture {arch}", False
    why = f"the architectures {archs} name no head this version knows" if archs else "config.json names no architectures"
    return ("feature-extraction", f"{why}, so the bare encoder is audited as feature-extraction (a classifier head in the "
            "weights, if any, is not used); pass --task to choose the head", True)


def explanation_head(model: AuditedModel) -> Head:
    """The explanation target of the adapter's head (from its most specific class: zero-shot before encoder)."""
    by_adapter = {h.adapter: h for h in HEADS.values()}
    for cls in type(model).__mro__:
        if cls in by_adapter:
            return by_adapter[cls].explanation(model)
    raise AuditError(f"explanations are not available for a {model.task} model")


__all__ = ["HEADS", "TASKS", "AuditedModel", "Settings", "TaskHead", "TokenScores", "explanation_head", "head_of"]
