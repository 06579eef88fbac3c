"""Sequence classification (single- or multi-label): class probabilities.

Explanation target: the target label's **log-odds** (``audit.explain.targets``; for a multi-label model its
own logit, since its probability is a sigmoid).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audit.engine import Batch
from audit.explain.targets import LOG_ODDS, Head, LabelCheck, Target, gather_rows, log_odds
from audit.tasks.base import AuditedModel, aggregate_windows
from audit.tasks.entry import TaskHead


class TextClassifier(AuditedModel):
    """Single- or multi-label sequence classification: class probabilities."""

    task = "text-classification"
    capabilities = frozenset({"class_probs"})

    @property
    def multi_label(self) -> bool:
        return getattr(self.model.config, "problem_type", None) == "multi_label_classification"

    def logits(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Raw logits per text; long texts fitted by ``strategy`` (window_* average the windows' logits)."""
        rows, owner = self.engine.shape_long(texts, strategy)
        out = self.logits_rows(rows)
        return aggregate_windows(list(out), owner, len(texts), "window_mean") if strategy.startswith("window") and len(texts) else out

    def class_probs(self, texts: Sequence[str], strategy: str = "truncate") -> np.ndarray:
        """Probabilities (softmax, or sigmoid for multi-label), shape [n, n_labels]; window_mean averages
        the windows' probabilities, window_max keeps the most confident window."""
        rows, owner = self.engine.shape_long(texts, strategy)
        probs = self._probs(self.logits_rows(rows))
        return aggregate_windows(list(probs), owner, len(texts), strategy) if strategy.startswith("window") and len(texts) else probs

    def logits_rows(self, rows: list[list[int]]) -> np.ndarray:
        """Logits for rows of token ids already fitted to the limit."""
        def forward(b: Batch) -> list[np.ndarray]:
            return list(self.model(**self._model_inputs(b)).logits.float().cpu().numpy())

        outs = self.engine.map("logits", rows, forward, desc="classify")
        return np.stack(outs) if outs else np.zeros((0, len(self.labels)), dtype=np.float32)

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(logits, dtype=np.float32))
        return (torch.sigmoid(t) if self.multi_label else torch.softmax(t, dim=-1)).numpy()



class ClassifierHead(LabelCheck, Head):
    quantity = LOG_ODDS

    def __init__(self, model: AuditedModel) -> None:
        super().__init__(model)
        if model.multi_label:  # type: ignore[attr-defined]
            self.quantity = "log-odds of the target label: its logit (multi-label: P = sigmoid(logit))"

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        logits = self.model(**kw).logits.float()
        if self.adapter.multi_label:  # type: ignore[attr-defined]
            return gather_rows(logits, target_index)
        return log_odds(logits, target_index)

    def resolve(self, encoded, targets):
        m: TextClassifier = self.adapter  # type: ignore[assignment]
        probs = m.class_probs([e.text for e in encoded])
        out = []
        for _, t, p in zip(encoded, targets, probs):
            idx = m.label_index(t) if t is not None else int(np.argmax(p))
            out.append(Target(m.labels[idx], idx, prediction={"label": m.labels[int(np.argmax(p))], "score": float(p.max()),
                                                              "target_prob": float(p[idx])}))
        return out

    def follow(self, targets, pairs):
        return self.resolve(pairs, [t.index for t in targets])


ENTRY = TaskHead("text-classification", TextClassifier, ClassifierHead, "AutoModelForSequenceClassification",
                 architectures=("ForSequenceClassification",),
                 serves=frozenset({"text-classification", "feature-extraction", "zero-shot-classification"}), labelled=True)
