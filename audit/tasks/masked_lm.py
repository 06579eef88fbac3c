"""Masked language models: mask-fill log-probabilities and pseudo-log-likelihood (Salazar et al.).

Explanation target: the **log-probability** of a token at the first mask.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audit.engine import Batch
from audit.errors import AuditError
from audit.explain.targets import LMHead
from audit.explain.words import Encoded
from audit.tasks.base import AuditedModel, TokenScores
from audit.tasks.entry import TaskHead


class MaskedLM(AuditedModel):
    """Masked language model: mask-fill log-probabilities and pseudo-log-likelihood (Salazar et al.)."""

    task = "fill-mask"
    capabilities = frozenset({"mask_fill", "token_scores"})

    @property
    def mask_token(self) -> str:
        return str(self.tokenizer.mask_token)

    def candidate_ids(self, candidates: Sequence[str]) -> list[int]:
        """One vocabulary id per candidate word; a word that splits into several pieces is an error."""
        ids = []
        for c in candidates:
            pieces = self.tokenizer(c, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                pieces = self.tokenizer(" " + c, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                raise AuditError(f"candidate {c!r} is not a single token for {self.info.tokenizer}; use single-token words")
            ids.append(pieces[0])
        return ids

    def mask_fill(self, texts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """log P(candidate) at the first mask of each text, shape [n, len(candidates)]."""
        cand = torch.tensor(self.candidate_ids(candidates))
        ids = self.engine.encode(texts)
        mask_id = self.tokenizer.mask_token_id
        for t, s in zip(texts, ids):
            if mask_id not in s:
                raise AuditError(f"text has no {self.mask_token} token (or it was truncated away): {t[:80]!r}")

        def forward(b: Batch) -> list[np.ndarray]:
            pos = (b.input_ids == mask_id).int().argmax(dim=1)
            rows = self._logits_at(b, pos).float().log_softmax(-1)
            return list(rows[:, cand.to(rows.device)].cpu().numpy())

        out = self.engine.map(f"mask_fill:{cand.tolist()}", ids, forward, desc="fill-mask")
        return np.stack(out) if out else np.zeros((0, len(candidates)), dtype=np.float32)

    def _logits_at(self, b: Batch, pos: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits at one position per row. The LM head runs on that position only when the
        model exposes it (BERT's ``cls``, RoBERTa's ``lm_head``): the full-vocabulary projection at every
        position is most of the cost of a small masked LM."""
        rows = torch.arange(len(pos), device=pos.device)
        head = getattr(self.model, "cls", None) or getattr(self.model, "lm_head", None)
        base = getattr(self.model, "base_model", None)
        if head is not None and base is not None and base is not self.model:
            hidden = base(**self._model_inputs(b)).last_hidden_state
            return head(hidden[rows, pos][:, None, :])[:, 0]
        return self.model(**self._model_inputs(b)).logits[rows, pos]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Pseudo-log-likelihood: each non-special token masked in turn, log P(original token)."""
        ids = self.engine.encode(texts)
        special = set(self.tokenizer.all_special_ids)
        rows, extras, owner = [], [], []
        for i, s in enumerate(ids):
            for p, tok in enumerate(s):
                if tok in special:
                    continue
                masked = list(s)
                masked[p] = self.tokenizer.mask_token_id
                rows.append(masked)
                extras.append([p, tok])
                owner.append(i)

        def forward(b: Batch) -> list[np.ndarray]:
            pos = torch.tensor([e[0] for e in b.extras], device=b.input_ids.device)
            tok = torch.tensor([e[1] for e in b.extras], device=b.input_ids.device)
            lp = self._logits_at(b, pos).float().log_softmax(-1)
            return list(lp.gather(1, tok[:, None])[:, 0].cpu().numpy())

        scores = self.engine.map("pll", rows, forward, extras=extras, desc="pseudo-log-likelihood")
        per: list[list[float]] = [[] for _ in ids]
        for o, v in zip(owner, scores):
            per[o].append(float(v))
        return [
            TokenScores(tuple(self.tokenizer.convert_ids_to_tokens([t for t in s if t not in special])),
                        tuple(t for t in s if t not in special), np.asarray(v, dtype=np.float64))
            for s, v in zip(ids, per)
        ]



class MaskedHead(LMHead):
    quantity = "log-probability at the first mask"

    def _where(self, e: Encoded) -> int:
        mask_id = self.adapter.tokenizer.mask_token_id
        if mask_id not in e.ids:
            raise AuditError(f"text {e.text[:60]!r} has no {self.adapter.tokenizer.mask_token} token (or it was cut); "
                             "a masked LM explains the prediction at the first mask")
        return e.ids.index(mask_id)

    def _word_id(self, word: str) -> int:
        return self.adapter.candidate_ids([word])[0]  # type: ignore[attr-defined]

    def check(self, text: str, target: str | None) -> None:
        if self.adapter.tokenizer.mask_token not in text:
            raise AuditError(f"text {text[:60]!r} has no {self.adapter.tokenizer.mask_token} token to explain")
        if target is not None:
            self._word_id(target)


ENTRY = TaskHead("fill-mask", MaskedLM, MaskedHead, "AutoModelForMaskedLM", architectures=("ForMaskedLM",),
                 serves=frozenset({"fill-mask", "feature-extraction", "zero-shot-classification"}))
