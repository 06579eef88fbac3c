"""A task head's entry in the table: its adapter, its explanation target and what loading needs to know.

Kept apart from ``audit.tasks.base`` because it names both sides: the adapters (``audit.tasks.base``) and the
explanation targets (``audit.explain.targets``), which themselves depend on the adapters.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from audit.explain.targets import Head
from audit.tasks.base import AuditedModel


@dataclass(frozen=True)
class TaskHead:
    """One task head's entry in the table (``audit.tasks.HEADS``): everything the loader and the explainer
    need to know about it, in one place."""

    name: str
    adapter: type[AuditedModel]
    explanation: type[Head]
    auto_class: str
    """The transformers Auto class that loads a checkpoint for this head."""
    architectures: tuple[str, ...] = ()
    """Suffixes of config.json architecture names that carry this head (``BertForMaskedLM``)."""
    serves: frozenset[str] = field(default_factory=frozenset)
    """The tasks a checkpoint with this head can be audited as (its own and the bare encoder's)."""
    labelled: bool = False
    """Its labels are config.json's id2label (an empty one is refused)."""
    prototypes: bool = False
    """Its labels are described by prototype sentences (zero-shot on an encoder)."""
    encoder: bool = False
    """It runs the bare encoder of a checkpoint (a head's tensors and the pooler are not used)."""
