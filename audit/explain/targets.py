"""What is attributed: one differentiable scalar per example, chosen by the task head.

A ``Head`` turns a batch (input ids or input embeddings, with attention mask, position ids and token-type
ids passed explicitly so the input, the baseline and every interpolation step share them) into the
attributed quantity of each row. This module holds what the heads share; each head's own target lives with
its adapter in ``audit.tasks`` (its module docstring says what is attributed), and
``audit.tasks.explanation_head`` picks it for an adapter.

Every classification-like head (text classification, zero-shot, token classification, extractive QA)
attributes the target's **log-odds**, F = log P(target) − log(1 − P(target)) = its logit minus the
log-sum-exp of the other labels' logits (the logit margin over the others; for two labels exactly
z_target − z_other, for a multi-label model the target's own logit, since its probability is a sigmoid). The
probability shown as the prediction is sigmoid(F(x)), so F(x) and F(x′) are in the units of the decision. A
raw logit is not: softmax is shift-invariant, so a word can raise the target's logit and still lower its
probability when it raises another label's more. Log-odds rather than log P: log P saturates at 0 for a
confident prediction (0.99 and 0.999 differ by 0.009), the log-odds do not (4.6 vs 6.9), and a linear model
stays linear in them.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audit.engine import Batch
from audit.errors import AuditError
from audit.explain.words import Encoded, encode

if TYPE_CHECKING:  # pragma: no cover - at run time audit.tasks imports this module (each head's target)
    from audit.tasks.base import AuditedModel


@dataclass(frozen=True)
class Target:
    """The resolved target of one example: its name, the output index, the token position and a reference."""

    name: str
    index: int = 0
    position: int = 0
    reference: np.ndarray | None = field(default=None, compare=False)
    prediction: dict[str, Any] = field(default_factory=dict, compare=False)
    segment: int = 0
    """First position of the second segment (token type 1 from there to the end); 0 = one segment."""


class Head:
    """Base: shared forward plumbing; subclasses resolve targets and pick the scalar."""

    quantity = ""
    uses_reference = False
    faithfulness_skipped: str | None = None
    """Why word-deletion faithfulness does not apply to this head (None: it applies)."""
    needs_question = False
    contrast_skipped: str | None = None
    """Why contrastive attribution of a pair's gap does not apply to this head (None: it applies)."""

    def __init__(self, model: AuditedModel) -> None:
        self.adapter = model
        self.model = model.model
        self.device = next(self.model.parameters()).device
        params = inspect.signature(self.model.forward).parameters
        self._position_ids = "position_ids" in params
        config = getattr(self.model, "config", None)
        self._token_types = "token_type_ids" in params and int(getattr(config, "type_vocab_size", 0) or 0) > 0
        self.embedding = self.model.get_input_embeddings()

    # ---- inputs ----------------------------------------------------------------------------
    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Position ids of the real input, reused unchanged for the baseline and every step.

        RoBERTa-style models number positions from padding_idx + 1 and give pads padding_idx; others 0..L-1.
        """
        base = getattr(self.model, "base_model", self.model)
        pe = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
        pad_idx = getattr(pe, "padding_idx", None)
        if pad_idx is not None:
            return (torch.cumsum(attention_mask, dim=1) * attention_mask + pad_idx).long()
        return torch.arange(attention_mask.shape[1], device=attention_mask.device).expand_as(attention_mask).contiguous()

    def model_kwargs(self, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                     token_type_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        kw = {"attention_mask": attention_mask}
        if self._position_ids:
            kw["position_ids"] = position_ids
        if self._token_types:
            kw["token_type_ids"] = token_type_ids
        return kw

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                token_type_ids: torch.Tensor, target_index: torch.Tensor, target_pos: torch.Tensor,
                reference: torch.Tensor) -> torch.Tensor:
        """The attributed scalar per row; ``x`` is input ids (long) or input embeddings (float)."""
        kw = self.model_kwargs(attention_mask, position_ids, token_type_ids)
        kw["inputs_embeds" if x.is_floating_point() else "input_ids"] = x
        return self.select(kw, attention_mask, target_index.long(), target_pos.long(), reference)

    def select(self, kw: dict[str, torch.Tensor], attention_mask: torch.Tensor, target_index: torch.Tensor,
               target_pos: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reference_tensor(self, targets: Sequence[Target]) -> torch.Tensor:
        """The per-row ``reference`` forward argument (a zero column when the head uses none)."""
        if not self.uses_reference:
            return torch.zeros((len(targets), 1))
        # a head that uses_reference gives every target one in resolve()
        return torch.tensor(np.stack([t.reference for t in targets]), dtype=torch.float32)  # type: ignore[misc]

    def encode(self, texts: Sequence[str], targets: Sequence[str | None], questions: Sequence[str | None] | None, *,
               truncate: bool, pairs: bool = False) -> list[Encoded]:
        """Tokenise the texts as the model sees them (QA: the best window of each (question, context))."""
        if questions is not None and any(q is not None for q in questions):
            raise AuditError(f"a question applies to question-answering models only, not to a {self.adapter.task} model")
        return encode(self.adapter, texts, truncate=truncate)

    # ---- targets -----------------------------------------------------------------------------
    def resolve(self, encoded: Sequence[Encoded], targets: Sequence[str | None]) -> list[Target]:
        """Fix each example's target from one batched prediction pass (an explicit target is checked)."""
        raise NotImplementedError

    def check(self, text: str, target: str | None) -> None:
        """Raise AuditError when ``target`` cannot apply to ``text`` (cheap: no model call)."""

    def follow(self, targets: Sequence[Target], pairs: Sequence[Encoded]) -> list[Target]:
        """The same targets for the counterfactual sides of pairs (positions re-found in each pair)."""
        return list(targets)

    def position_after(self, target_pos: int, kept: Sequence[int]) -> int:
        """Where the target position lands once only the ``kept`` token positions remain."""
        return kept.index(target_pos) if target_pos in kept else 0

    def protected(self, enc: Encoded, target: Target) -> set[int]:
        """Words that faithfulness tests must never remove (the token a token label is about)."""
        return set()


def gather_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[r, index[r]] for every row r."""
    return values.gather(1, index[:, None])[:, 0]


def log_odds(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """log P(index) − log(1 − P(index)) under softmax(logits) (−inf logits are excluded labels), computed as
    the target's logit minus the log-sum-exp of the others so it stays exact when P is near 0 or 1."""
    others = logits.scatter(1, index[:, None], float("-inf")).logsumexp(-1)
    return gather_rows(logits, index) - others


LOG_ODDS = "log-odds of the target label: log P − log(1 − P) = its logit − log-sum-exp of the other labels' logits"


class LabelCheck:
    """Checks an explicit target label (``LABEL`` or ``LABEL@k``) against the adapter's labels."""

    adapter: AuditedModel

    def check(self, text: str, target: str | None) -> None:
        if target is not None:
            self.adapter.label_index(str(target).partition("@")[0] or "0")


class LMHead(Head):
    """Log-probability of one vocabulary item at one position; the LM head runs only at that position."""

    def __init__(self, model: AuditedModel) -> None:
        super().__init__(model)
        base = self.model.base_model
        heads = [c for n, c in self.model.named_children() if c is not base and any(True for _ in c.parameters())]
        self._head = heads[0] if len(heads) == 1 else None

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        rows = torch.arange(len(target_pos), device=target_pos.device)
        if self._head is not None:
            hidden = self.model.base_model(**kw).last_hidden_state
            logits = self._head(hidden[rows, target_pos][:, None, :])[:, 0].float()
        else:
            logits = self.model(**kw).logits[rows, target_pos].float()
        return gather_rows(logits.log_softmax(-1), target_index)

    def _predict(self, encoded: Sequence[Encoded], positions: Sequence[int], wanted: Sequence[int]) -> np.ndarray:
        """[top id, its log-prob, the wanted id's log-prob] per text, in one batched, cached engine pass."""
        def forward(b: Batch) -> list[np.ndarray]:
            logits = self.model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
            rows = torch.arange(len(b.extras), device=logits.device)
            at = torch.tensor([e[0] for e in b.extras], device=logits.device)
            lp = logits[rows, at].float().log_softmax(-1)
            top = lp.max(-1)
            want = torch.tensor([max(e[1], 0) for e in b.extras], device=logits.device)
            got = lp.gather(1, want[:, None])[:, 0]
            return list(torch.stack([top.indices.float(), top.values, got], 1).cpu().numpy())

        out = self.adapter.engine.map("explain:lm_predict", [list(e.ids) for e in encoded], forward,
                                      extras=[[int(p), int(w)] for p, w in zip(positions, wanted)], desc="predict")
        return np.stack(out)

    def _word_id(self, word: str) -> int:
        raise NotImplementedError

    def _where(self, e: Encoded) -> int:
        raise NotImplementedError

    def resolve(self, encoded, targets):
        return self._targets(encoded, [self._word_id(t) if t is not None else -1 for t in targets])

    def _targets(self, encoded: Sequence[Encoded], wanted: Sequence[int]) -> list[Target]:
        positions = [self._where(e) for e in encoded]
        pred = self._predict(encoded, positions, wanted)
        tok = self.adapter.tokenizer
        out = []
        for pos, w, (top, lp_top, lp_want) in zip(positions, wanted, pred):
            idx = w if w >= 0 else int(top)
            out.append(Target(tok.convert_ids_to_tokens(idx), idx, pos,
                              prediction={"token": tok.convert_ids_to_tokens(int(top)), "logprob": float(lp_top),
                                          "target_logprob": float(lp_want if w >= 0 else lp_top)}))
        return out

    def follow(self, targets, pairs):
        return self._targets(pairs, [t.index for t in targets])

