"""Causal language models: per-token log-likelihood and next-token log-probabilities.

Explanation target: the **log-probability** of the next token after the text.
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


class CausalLM(AuditedModel):
    """Causal language model: per-token log-likelihood and next-token log-probabilities."""

    task = "text-generation"
    capabilities = frozenset({"token_scores", "next_token"})
    prepends_bos = True

    def _with_bos(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self.engine.encode(texts)
        bos = self.tokenizer.bos_token_id
        if bos is None:
            bos = self.tokenizer.eos_token_id
        if bos is None:
            return ids
        return [([bos] + s if not s or s[0] != bos else s)[: self.max_length] for s in ids]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """log P(token_i | tokens_<i) for every token after the first (a BOS is prepended when known)."""
        ids = self._with_bos(texts)

        def forward(b: Batch) -> list[np.ndarray]:
            lp = self.model(**self._model_inputs(b)).logits.float().log_softmax(-1)
            nxt = lp[:, :-1].gather(2, b.input_ids[:, 1:, None])[..., 0]
            return [nxt[r, : n - 1].cpu().numpy().astype(np.float64) for r, n in enumerate(b.lengths)]

        outs = self.engine.map("causal_ll", ids, forward, desc="log-likelihood")
        return [TokenScores(tuple(self.tokenizer.convert_ids_to_tokens(s[1:])), tuple(s[1:]), o) for s, o in zip(ids, outs)]

    def next_token(self, prompts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """log P(candidate's first token | prompt), shape [n, len(candidates)]."""
        cand_ids = []
        for c in candidates:
            pieces = self.tokenizer(" " + c.strip(), add_special_tokens=False)["input_ids"]
            if not pieces:
                raise AuditError(f"candidate {c!r} tokenises to nothing")
            cand_ids.append(pieces[0])
        cand = torch.tensor(cand_ids)
        ids = self._with_bos(prompts)

        def forward(b: Batch) -> list[np.ndarray]:
            logits = self.model(**self._model_inputs(b)).logits.float()
            last = torch.tensor([n - 1 for n in b.lengths], device=logits.device)
            lp = logits[torch.arange(len(last), device=logits.device), last].log_softmax(-1)
            return list(lp[:, cand.to(lp.device)].cpu().numpy())

        out = self.engine.map(f"next_token:{cand_ids}", ids, forward, desc="next token")
        return np.stack(out) if out else np.zeros((0, len(candidates)), dtype=np.float32)


class NextTokenHead(LMHead):
    quantity = "log-probability of the next token"

    def _where(self, e: Encoded) -> int:
        return len(e.ids) - 1

    def _word_id(self, word: str) -> int:
        pieces = self.adapter.tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
        if not pieces:
            raise AuditError(f"target {word!r} tokenises to nothing; give a word")
        return int(pieces[0])

    def position_after(self, target_pos, kept):
        return len(kept) - 1

    def check(self, text: str, target: str | None) -> None:
        if target is not None:
            self._word_id(target)


ENTRY = TaskHead("text-generation", CausalLM, NextTokenHead, "AutoModelForCausalLM",
                 architectures=("ForCausalLM", "LMHeadModel"), serves=frozenset({"text-generation"}))
