"""What is attributed, for each task head: one differentiable scalar per example.

A ``Head`` turns a batch (input ids or input embeddings, with attention mask, position ids and token-type
ids passed explicitly so the input, the baseline and every interpolation step share them) into the
attributed quantity of each row. Choices, recorded in every explanation:

- every classification-like head (text classification, zero-shot, token classification, extractive QA): the
  target's **log-odds**, F = log P(target) − log(1 − P(target)) = its logit minus the log-sum-exp of the other
  labels' logits (the logit margin over the others; for two labels exactly z_target − z_other, for a multi-label
  model the target's own logit, since its probability is a sigmoid). The probability shown as the prediction is
  sigmoid(F(x)), so F(x) and F(x′) are in the units of the decision. A raw logit is not: softmax is
  shift-invariant, so a word can raise the target's logit and still lower its probability when it raises
  another label's more. Log-odds rather than log P: log P saturates at 0 for a confident prediction (0.99
  and 0.999 differ by 0.009), the log-odds do not (4.6 vs 6.9), and a linear model stays linear in them;
- zero-shot (the default model): the labels' logits are the cosines to every label's prototype centroid
  divided by the temperature, exactly as the adapter decides (P = their softmax); the cosine to one centroid
  alone carries only part of the margin that moves P(label);
- sentence encoder: the **cosine** to a reference text's embedding (by default the text itself; no decision);
- token classification: a label's **log-odds** at one token (over the labels there);
- masked LM: the **log-probability** of a token at the first mask;
- causal LM: the **log-probability** of the next token after the text;
- extractive QA: the **log-odds that the answer starts** at the span's first token (start logits over the window's
  context tokens and CLS, as the adapter scores spans; the best span, or the given answer's best occurrence),
  in the window holding it; the end is reported in the prediction, not attributed;
- sequence-to-sequence: the teacher-forced **log-probability of the whole target** (sum over its tokens, EOS
  included), attributed to the encoder's input embeddings.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audit.engine import Batch
from audit.errors import AuditError
from audit.explain.words import Encoded, encode
from audit.models import (
    AuditedModel,
    CausalLM,
    MaskedLM,
    SentenceEncoder,
    TextClassifier,
    TokenClassifier,
    ZeroShotClassifier,
)


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


def _rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return values.gather(1, index[:, None])[:, 0]


def log_odds(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """log P(index) − log(1 − P(index)) under softmax(logits) (−inf logits are excluded labels), computed as
    the target's logit minus the log-sum-exp of the others so it stays exact when P is near 0 or 1."""
    others = logits.scatter(1, index[:, None], float("-inf")).logsumexp(-1)
    return _rows(logits, index) - others


LOG_ODDS = "log-odds of the target label: log P − log(1 − P) = its logit − log-sum-exp of the other labels' logits"


class _LabelCheck:
    adapter: AuditedModel

    def check(self, text: str, target: str | None) -> None:
        if target is not None:
            self.adapter.label_index(str(target).partition("@")[0] or "0")


class ClassifierHead(_LabelCheck, Head):
    quantity = LOG_ODDS

    def __init__(self, model: AuditedModel) -> None:
        super().__init__(model)
        if model.multi_label:  # type: ignore[attr-defined]
            self.quantity = "log-odds of the target label: its logit (multi-label: P = sigmoid(logit))"

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        logits = self.model(**kw).logits.float()
        if self.adapter.multi_label:  # type: ignore[attr-defined]
            return _rows(logits, target_index)
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


class ZeroShotHead(_LabelCheck, EncoderHead):
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


class TokenHead(_LabelCheck, Head):
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


class _LMHead(Head):
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
        return _rows(logits.log_softmax(-1), target_index)

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


class MaskedHead(_LMHead):
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


class NextTokenHead(_LMHead):
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


def head_for(model: AuditedModel) -> Head:
    """The head that matches the adapter (checked from the most specific class)."""
    from audit.explain.heads_qa_seq2seq import QAHead, Seq2SeqHead
    from audit.heads import QuestionAnswering, Seq2SeqLM

    table: tuple[tuple[type[AuditedModel], type[Head]], ...] = ((QuestionAnswering, QAHead), (Seq2SeqLM, Seq2SeqHead), (ZeroShotClassifier, ZeroShotHead), (SentenceEncoder, EncoderHead), (TextClassifier, ClassifierHead),
                      (TokenClassifier, TokenHead), (MaskedLM, MaskedHead), (CausalLM, NextTokenHead))
    for cls, head in table:
        if isinstance(model, cls):
            return head(model)
    raise AuditError(f"explanations are not available for a {model.task} model")

