"""Token classification (NER): per-token label probabilities and grouped entities.

Explanation target: a label's **log-odds** at one token (over the labels there).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.engine import Batch
from audit.errors import AuditError
from audit.explain.targets import Head, LabelCheck, Target, log_odds
from audit.explain.words import Encoded
from audit.tasks.base import AuditedModel
from audit.tasks.entry import TaskHead


@dataclass(frozen=True)
class TokenPrediction:
    """Per-token label probabilities of one text, with character offsets (special tokens removed)."""

    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    probs: np.ndarray


class TokenClassifier(AuditedModel):
    """Token classification (NER): per-token label probabilities and grouped entities."""

    task = "token-classification"
    capabilities = frozenset({"token_probs"})

    def token_probs(self, texts: Sequence[str]) -> list[TokenPrediction]:
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                             return_special_tokens_mask=True, verbose=False)

        def forward(b: Batch) -> list[np.ndarray]:
            probs = torch.softmax(self.model(**self._model_inputs(b)).logits.float(), dim=-1).cpu().numpy()
            return [p[:n] for p, n in zip(probs, b.lengths)]

        outs = self.engine.map("token_probs", enc["input_ids"], forward, desc="tag")
        preds = []
        for ids, offs, special, p in zip(enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], outs):
            keep = [i for i, s in enumerate(special) if not s]
            preds.append(TokenPrediction(tuple(self.tokenizer.convert_ids_to_tokens([ids[i] for i in keep])),
                                         tuple(tuple(offs[i]) for i in keep), p[keep]))
        return preds

    def entities(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Entities per text: spans of tokens whose argmax label shares a type (B-/I- prefixes merged)."""
        result = []
        for text, pred in zip(texts, self.token_probs(texts)):
            spans: list[dict[str, Any]] = []
            for (start, end), p in zip(pred.offsets, pred.probs):
                label = self.labels[int(np.argmax(p))]
                kind = label.split("-", 1)[-1] if label != "O" else "O"
                if kind == "O":
                    continue
                joinable = spans and spans[-1]["type"] == kind and not label.startswith("B-") and start - spans[-1]["end"] <= 1
                if joinable:
                    spans[-1]["end"] = end
                    spans[-1]["scores"].append(float(p.max()))
                else:
                    spans.append({"type": kind, "start": start, "end": end, "scores": [float(p.max())]})
            for s in spans:
                s["text"] = text[s["start"] : s["end"]]
                s["score"] = float(np.mean(s.pop("scores")))
            result.append(spans)
        return result



class TokenHead(LabelCheck, Head):
    """A label's logit at one token. Targets: ``LABEL@k``, ``LABEL`` (its most likely token) or ``@k``;
    k counts tokens from 0 including specials (the token table shows them)."""

    quantity = "log-odds of the label at a token: its logit − log-sum-exp of the other labels' logits there"

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        logits = self.model(**kw).logits.float()
        at = logits[torch.arange(len(target_pos), device=logits.device), target_pos]
        return log_odds(at, target_index)

    def _probs(self, encoded: Sequence[Encoded]) -> list[np.ndarray]:
        """Label probabilities of every token, in one batched, cached engine pass."""
        def forward(b: Batch) -> list[np.ndarray]:
            probs = torch.softmax(self.model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits.float(), -1)
            return [p[:n].cpu().numpy() for p, n in zip(probs, b.lengths)]

        return self.adapter.engine.map("explain:token_probs", [list(e.ids) for e in encoded], forward, desc="predict")

    def resolve(self, encoded, targets):
        m: TokenClassifier = self.adapter  # type: ignore[assignment]
        out = []
        for e, t, p in zip(encoded, targets, self._probs(encoded)):
            out.append(self._pick(m, e, t, p))
        return out

    def _pick(self, m: TokenClassifier, e: Encoded, t: str | None, p: np.ndarray) -> Target:
        label, _, at = (t or "").partition("@")
        real = [i for i, s in enumerate(e.special) if not s]
        if not real:
            raise AuditError(f"text {e.text[:40]!r} has no tokens to label")
        if at and (not at.isdigit() or int(at) not in real):
            raise AuditError(f"target position @{at} is not a word token of {e.text[:40]!r}; use one of {real[0]}…{real[-1]}")
        if label:
            idx = m.label_index(label)
            pos = int(at) if at else max(real, key=lambda i: p[i, idx])
        elif at:
            pos = int(at)
            idx = int(np.argmax(p[pos]))
        else:
            named = [j for j, lab in enumerate(m.labels) if lab != "O"] or list(range(len(m.labels)))
            pos = max(real, key=lambda i: p[i, named].max())
            idx = named[int(np.argmax(p[pos, named]))]
        return Target(f"{m.labels[idx]}@{pos} ({e.tokens[pos]})", idx, pos,
                      prediction={"label": m.labels[int(np.argmax(p[pos]))], "score": float(p[pos].max()),
                                  "target_prob": float(p[pos, idx]), "token": e.tokens[pos]})

    def follow(self, targets, pairs):
        m: TokenClassifier = self.adapter  # type: ignore[assignment]
        return [self._pick(m, e, m.labels[t.index], p) for t, e, p in zip(targets, pairs, self._probs(pairs))]

    def protected(self, enc, target):
        w = enc.word_of_token[target.position]
        return {w} if w is not None else set()


ENTRY = TaskHead("token-classification", TokenClassifier, TokenHead, "AutoModelForTokenClassification",
                 architectures=("ForTokenClassification",), serves=frozenset({"token-classification", "feature-extraction"}),
                 labelled=True)
