"""What every adapter shares: the base class and the helpers of several heads.

An adapter wraps one model and one task head and offers the batched scoring primitives that probes use;
nothing else touches the torch model.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audit import lazy_model
from audit.engine import Batch, Engine
from audit.errors import AuditError, unknown_name
from audit.results import ModelInfo

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

class AuditedModel:
    """An adapter over one model and one task head; probes see only its primitives."""

    task: str = ""
    capabilities: frozenset[str] = frozenset()
    prepends_bos = False
    """Whether the adapter scores a text with a BOS token first (causal LMs), so explanations encode it so too."""

    def __init__(self, model: PreTrainedModel, tokenizer: Any, info: ModelInfo, engine: Engine) -> None:
        self._model: Any = model
        self.tokenizer = tokenizer
        self.info = info
        self.engine = engine

    @property
    def model(self) -> PreTrainedModel:
        """The torch model; a lazy one (``audit.lazy_model``) is built here, on first use."""
        if isinstance(self._model, lazy_model.LazyModel):
            self._model = self._model.resolve()
        return self._model

    @model.setter
    def model(self, model: PreTrainedModel) -> None:
        self._model = model

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def max_length(self) -> int:
        return self.engine.max_length

    def label_index(self, label: str | int) -> int:
        """Index of a label by name or number; an unknown one is a user error with close matches."""
        if isinstance(label, int) or (isinstance(label, str) and label.isdigit()):
            i = int(label)
            if 0 <= i < len(self.labels):
                return i
        elif label in self.labels:
            return self.labels.index(label)
        raise unknown_name(f"label of {self.info.spec}", str(label), self.labels)

    @classmethod
    def create(cls, model: PreTrainedModel, tokenizer: Any, info: ModelInfo, engine: Engine,
               settings: Settings) -> AuditedModel:
        """The adapter as the loader builds it; encoder-based heads take their pooling from ``settings``."""
        return cls(model, tokenizer, info, engine)

    def _model_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.spec!r}, task={self.task!r}, device={self.info.device})"


def aggregate_windows(rows: list[np.ndarray], owner: list[int], n: int, how: str) -> np.ndarray:
    out = []
    for i in range(n):
        mine = np.stack([r for r, o in zip(rows, owner) if o == i])
        if how == "window_max":
            out.append(mine[int(np.argmax(mine.max(axis=1)))])
        else:
            out.append(mine.mean(axis=0))
    return np.stack(out)



def check_texts(kind: str, texts: Sequence[str]) -> list[str]:
    """The texts as a list; one string instead of a list, or an empty text, is a user error."""
    if isinstance(texts, str):
        raise AuditError(f"{kind} must be a list of strings, not one string; wrap it in a list")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise AuditError(f"{kind}[{i}] is empty; every {kind[:-1]} needs some text")
    return out



@dataclass(frozen=True)
class TokenScores:
    """Log-probabilities of each scored token of one text (pseudo-log-likelihood or causal)."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    logprobs: np.ndarray

    @property
    def total(self) -> float:
        return float(self.logprobs.sum())



@dataclass(frozen=True)
class Settings:
    """How an encoder-based adapter pools and decides; part of the model's fingerprint (``as_dict``)."""

    pooling: str = "mean"
    normalize: bool = False
    prototypes: dict[str, tuple[str, ...]] | None = None
    temperature: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "normalize": self.normalize, "prototypes": self.prototypes,
                "temperature": self.temperature}
