"""Sentence embeddings with the folder's own pooling and normalisation (sentence-transformers), or the bare
encoder of a checkpoint with a head.

Explanation target: the **cosine** to a reference text's embedding (by default the text itself; no decision).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audit.engine import Batch, Engine
from audit.errors import AuditError
from audit.explain.targets import Head, Target
from audit.results import ModelInfo
from audit.tasks.base import AuditedModel, Settings, aggregate_windows
from audit.tasks.entry import TaskHead

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel


class SentenceEncoder(AuditedModel):
    """Sentence embeddings with the folder's own pooling and normalisation (sentence-transformers)."""

    task = "feature-extraction"
    capabilities = frozenset({"embed"})

    def __init__(self, model: PreTrainedModel, tokenizer: Any, info: ModelInfo, engine: Engine, *,
                 pooling: str = "mean", normalize: bool = False) -> None:
        super().__init__(model, tokenizer, info, engine)
        self.pooling = pooling
        self.normalize = normalize

    @classmethod
    def create(cls, model: PreTrainedModel, tokenizer: Any, info: ModelInfo, engine: Engine,
               settings: Settings) -> AuditedModel:
        return cls(model, tokenizer, info, engine, pooling=settings.pooling, normalize=settings.normalize)

    def embed(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """One vector per text, shape [n, dim]; window_mean averages the windows' vectors.

        window_max has no meaning for a vector and is refused; classifiers built on an encoder
        (zero-shot) pick the most confident window instead.
        """
        if strategy == "window_max":
            raise AuditError("window_max picks the most confident window of a classifier; for embeddings use window_mean")
        rows, owner = self.engine.shape_long(texts, strategy)
        outs = self.embed_rows(rows)
        if not outs:
            return np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float32)
        vecs = aggregate_windows(outs, owner, len(texts), "window_mean") if strategy.startswith("window") else np.stack(outs)
        if self.normalize and strategy.startswith("window"):
            vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)
        return vecs

    def embed_rows(self, rows: list[list[int]]) -> list[np.ndarray]:
        """One vector per row of token ids (already fitted to the limit)."""
        pooling = self.pooling

        def forward(b: Batch) -> list[np.ndarray]:
            hidden = self.model(**self._model_inputs(b)).last_hidden_state.float()
            mask = b.attention_mask[..., None].to(hidden.dtype)
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "max":
                pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return list(pooled.cpu().numpy())

        return self.engine.map(f"embed:{pooling}:{self.normalize}", rows, forward, desc="embed")

    def _model_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}



class EncoderHead(Head):
    """Cosine of the pooled (and normalised) embedding to a reference vector."""

    quantity = "cosine similarity to the reference text's embedding"
    uses_reference = True

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        return torch.nn.functional.cosine_similarity(self.pooled(kw, attention_mask), reference.float(), dim=-1)

    def pooled(self, kw: dict[str, torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
        """The adapter's pooling of the last hidden state (before any normalisation)."""
        m: SentenceEncoder = self.adapter  # type: ignore[assignment]
        hidden = self.model(**kw).last_hidden_state.float()
        mask = attention_mask[..., None].to(hidden.dtype)
        if m.pooling == "cls":
            return hidden[:, 0]
        if m.pooling == "max":
            return hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def resolve(self, encoded, targets):
        m: SentenceEncoder = self.adapter  # type: ignore[assignment]
        refs = [t if t is not None else e.text for e, t in zip(encoded, targets)]
        uniq = list(dict.fromkeys(refs + [e.text for e in encoded]))
        vecs = dict(zip(uniq, m.embed(uniq)))
        out = []
        for e, t, r in zip(encoded, targets, refs):
            a, b = vecs[e.text], vecs[r]
            cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
            name = "itself" if t is None else f"reference: {r}"
            out.append(Target(name, reference=vecs[r], prediction={"similarity": cos}))
        return out

    def follow(self, targets, pairs):
        """The pair is compared with the same reference vector (the original text's, by default)."""
        vecs = self.adapter.embed([e.text for e in pairs])  # type: ignore[attr-defined]
        out = []
        for t, v in zip(targets, vecs):
            cos = float(v @ t.reference / max(np.linalg.norm(v) * np.linalg.norm(t.reference), 1e-12))
            out.append(Target(t.name, reference=t.reference, prediction={"similarity": cos}))
        return out


ENTRY = TaskHead("feature-extraction", SentenceEncoder, EncoderHead, "AutoModel", architectures=("Model",),
                 serves=frozenset({"feature-extraction", "zero-shot-classification"}), encoder=True)
