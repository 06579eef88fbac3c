"""An encoder used as a classifier, its labels described by prototype sentences (the default model's head).

Explanation target: the target label's **log-odds**, with the labels' logits the cosines to every label's
prototype centroid divided by the temperature, exactly as the adapter decides (P = their softmax); the cosine
to one centroid alone carries only part of the margin that moves P(label).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audit.engine import Engine
from audit.errors import AuditError
from audit.explain.targets import LOG_ODDS, LabelCheck, Target, log_odds
from audit.results import ModelInfo
from audit.tasks.base import AuditedModel, Settings, aggregate_windows
from audit.tasks.entry import TaskHead
from audit.tasks.sentence_embedding import EncoderHead, SentenceEncoder

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

ZERO_SHOT_TEMPERATURE = 0.05

SENTIMENT_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "negative": (
        "This is terrible.",
        "I hate this.",
        "A sad, awful and disappointing experience.",
        "The service was bad and I am angry.",
    ),
    "positive": (
        "This is wonderful.",
        "I love this.",
        "A happy, great and delightful experience.",
        "The service was excellent and I am pleased.",
    ),
}
"""Prototype sentences for the default zero-shot sentiment head (our own wording)."""


class ZeroShotClassifier(SentenceEncoder):
    """An encoder used as a classifier: labels described by prototype sentences.

    P(label | text) = softmax over labels of cos(text, mean prototype of label) / temperature.
    """

    task = "zero-shot-classification"
    capabilities = frozenset({"embed", "class_probs"})

    def __init__(self, *args: Any, prototypes: Mapping[str, Sequence[str]], temperature: float = ZERO_SHOT_TEMPERATURE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(prototypes) < 2:
            raise AuditError("zero-shot classification needs at least two labels with prototype sentences")
        self.prototypes = {k: tuple(v) for k, v in prototypes.items()}
        self.temperature = temperature
        self._centroids: np.ndarray | None = None

    @classmethod
    def create(cls, model: PreTrainedModel, tokenizer: Any, info: ModelInfo, engine: Engine,
               settings: Settings) -> AuditedModel:
        assert settings.prototypes is not None and settings.temperature is not None
        return cls(model, tokenizer, info, engine, pooling=settings.pooling, normalize=settings.normalize,
                   prototypes=settings.prototypes, temperature=settings.temperature)

    def centroids(self) -> np.ndarray:
        if self._centroids is None:
            cents = []
            for sents in self.prototypes.values():
                v = self.embed(list(sents))
                v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)
                c = v.mean(axis=0)
                cents.append(c / max(np.linalg.norm(c), 1e-12))
            self._centroids = np.stack(cents)
        return self._centroids

    def class_probs(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Label probabilities; window_* score every window, then average (mean) or keep the most confident (max)."""
        if not texts:
            return np.zeros((0, len(self.prototypes)), dtype=np.float32)
        rows, owner = self.engine.shape_long(texts, strategy)
        v = np.stack(self.embed_rows(rows))
        v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)
        sims = torch.from_numpy((v @ self.centroids().T).astype(np.float32))
        probs = torch.softmax(sims / self.temperature, dim=-1).numpy()
        return aggregate_windows(list(probs), owner, len(texts), strategy) if strategy.startswith("window") else probs



class ZeroShotHead(LabelCheck, EncoderHead):
    """The labels' logits are cos(pooled text embedding, label centroid) / temperature, as the adapter decides."""

    quantity = LOG_ODDS + "; logits = cosines to every label's centroid / temperature"
    uses_reference = False

    def __init__(self, model: AuditedModel) -> None:
        super().__init__(model)
        m: ZeroShotClassifier = model  # type: ignore[assignment]
        self._centroids = torch.tensor(m.centroids(), dtype=torch.float32, device=self.device)
        self._temperature = float(m.temperature)

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        pooled = torch.nn.functional.normalize(self.pooled(kw, attention_mask), dim=-1)
        return log_odds(pooled @ self._centroids.T / self._temperature, target_index)

    def resolve(self, encoded, targets):
        m: ZeroShotClassifier = self.adapter  # type: ignore[assignment]
        probs = m.class_probs([e.text for e in encoded])
        cents = m.centroids()
        out = []
        for t, p in zip(targets, probs):
            idx = m.label_index(t) if t is not None else int(np.argmax(p))
            out.append(Target(m.labels[idx], idx, reference=cents[idx],
                              prediction={"label": m.labels[int(np.argmax(p))], "score": float(p.max()),
                                          "target_prob": float(p[idx])}))
        return out

    def follow(self, targets, pairs):
        return self.resolve(pairs, [t.index for t in targets])


ENTRY = TaskHead("zero-shot-classification", ZeroShotClassifier, ZeroShotHead, "AutoModel", prototypes=True, encoder=True)
