"""Explanation heads for the question-answering and sequence-to-sequence adapters (``audit.heads``).

Question answering: the attributed scalar is the **log-odds that the answer starts** at the first token of the
answer span (start logits over the window's context tokens and CLS, the positions the adapter scores spans over,
so sigmoid(F(x)) is the start probability behind the span's score), in
the window the adapter scores it in (question and context tokenised as a pair, token type ids 0 on the
question and 1 from the context on, exactly as ``QuestionAnswering.start_end_logits`` builds them; the same
ids ride along on the input, the baseline and every interpolation step). The span is the adapter's best
span (as ``answer`` picks it) or, with an explicit target answer text, that answer's best whole-word
occurrence. A context longer than one window is explained in the window holding the span only, and the
explanation says so (``truncated``). The end logit at the span's last token is reported in the prediction
but not attributed (a second full IG run per example). The context bounds and CLS position ride along as the
``reference`` argument. Word-deletion faithfulness is skipped: deleting
words moves the span and the question/context boundary, so the "same quantity" is no longer defined.

Sequence-to-sequence: the teacher-forced log-probability of the **whole target sequence** (sum over its
tokens, EOS included, as ``Seq2SeqLM.target_scores`` computes it), attributed to the encoder's input
embeddings; the decoder's inputs are fixed. Without a target, the model's own greedy output is explained.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audit.errors import AuditError
from audit.explain.targets import Head, Target, log_odds
from audit.explain.words import Encoded, special_ids
from audit.heads import QuestionAnswering, Seq2SeqLM, _occurrences, _token_span

MAX_ANSWER_LEN = 30


@dataclass(frozen=True)
class QAEncoded(Encoded):
    """A (question, context) window; ``qa_target`` is the span's target, fixed when the window is chosen."""

    qa_target: Target | None = field(default=None, compare=False)


class QAHead(Head):
    quantity = "log-odds that the answer starts at the span's first token (start logits over the window's context and CLS)"
    faithfulness_skipped = ("faithfulness (word deletion) is skipped for question answering: deleting words moves the "
                            "answer span and the question/context boundary, so the attributed start probability is undefined")
    needs_question = True
    uses_reference = True
    contrast_skipped = ("contrastive attribution is not available for question answering: each side's answer span is "
                        "found in its own window, so the two sides do not share one quantity; per-side explanations only")

    adapter: QuestionAnswering

    def __init__(self, model: QuestionAnswering) -> None:
        super().__init__(model)
        self._token_types = self._token_types and bool(model.uses_token_types)

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        start = self.model(**kw).start_logits.float()  # [n, L]
        pos = torch.arange(start.shape[1], device=start.device)[None, :]
        ref = reference.long()
        allowed = ((pos >= ref[:, :1]) & (pos < ref[:, 1:2])) | (pos == ref[:, 2:3])
        return log_odds(start.masked_fill(~allowed, float("-inf")), target_pos)

    def check(self, text: str, target: str | None) -> None:
        if target is not None and target != "" and not _occurrences(text, target):
            raise AuditError(f"target answer {target!r} does not occur in the context {text[:60]!r}; "
                             "a QA explanation attributes the start logit of a span of the context")

    def encode(self, texts, targets, questions, *, truncate, pairs=False):
        if questions is None or any(q is None or not str(q).strip() for q in questions):
            raise AuditError("a question-answering model explains (question, context) pairs: give question= "
                             "(--question on the command line), one for all texts or one per text")
        m = self.adapter
        per = m.start_end_logits(list(questions), list(texts))
        tok = m.tokenizer
        specials = special_ids(m)
        out = []
        for text, target, question, windows in zip(texts, targets, questions, per):
            k, s, e, lp = self._span(text, target, windows, lenient=pairs)
            w = windows[k]
            a, z = w["ctx"]
            ids, offs = w["ids"], w["offsets"]
            q_words = _word_lookup(tok, question)
            c_words = _word_lookup(tok, text)
            words: list[str] = []
            index: dict[tuple[str | None, int], int] = {}
            word_of_token: list[int | None] = []
            special: list[bool] = []
            for p, (t, o) in enumerate(zip(ids, offs)):
                side = "c" if a <= p < z else ("q" if p < a and t not in specials and tuple(o) != (0, 0) else None)
                lookup, src = (c_words, text) if side == "c" else (q_words, question)
                wid = lookup.get(tuple(o)) if side else None
                if wid is None:
                    special.append(side is None)
                    word_of_token.append(None)
                    continue
                key = (side, wid[0])
                if key not in index:
                    index[key] = len(words)
                    span = wid[1]
                    words.append(("Q:" if side == "q" else "") + (src[span[0]:span[1]].strip() or "·"))
                special.append(False)
                word_of_token.append(index[key])
            truncated = None
            if len(windows) > 1:
                truncated = (f"context spans {len(windows)} windows of at most {m.window} tokens; explained window {k + 1} "
                             f"only (context characters {offs[a][0]}–{offs[z - 1][1]}), the one holding the answer span")
            start_logit, end_logit = float(w["logits"][0, s]), float(w["logits"][1, e])
            answer = text[offs[s][0]:offs[e][1]]
            bounds = np.array([a, z, -1 if w["cls"] is None else w["cls"]], dtype=np.int64)
            target_obj = Target(f"start of {answer!r} @{s} ({tok.convert_ids_to_tokens(ids[s])})", 0, s,
                                reference=bounds, segment=a if self._token_types else 0,
                                prediction={"question": question, "answer": answer, "start": int(offs[s][0]),
                                            "end": int(offs[e][1]), "score": math.exp(lp), "start_token": s, "end_token": e,
                                            "start_logit": start_logit, "end_logit": end_logit,
                                            "start_prob": math.exp(m._log_probs(w, w["logits"])[0][s]),
                                            "window": k, "n_windows": len(windows),
                                            "requested": target})
            out.append(QAEncoded(text, tuple(ids), tuple(tok.convert_ids_to_tokens(ids)), tuple(special),
                                 tuple(word_of_token), tuple(words), truncated, qa_target=target_obj))
        return out

    def _span(self, context: str, target: str | None, windows: list[dict[str, Any]],
              lenient: bool) -> tuple[int, int, int, float]:
        """(window, start token, end token, log p_start + log p_end) of the best span or the given answer."""
        m = self.adapter
        best: tuple[float, int, int, int] | None = None
        spans = _occurrences(context, target) if target else []
        if target and not spans and not lenient:
            raise AuditError(f"target answer {target!r} does not occur in the context {context[:60]!r}")
        for k, w in enumerate(windows):
            ls, le = m._log_probs(w, w["logits"])
            if spans:
                for cs, ce in spans:
                    t = _token_span(w, cs, ce)
                    if t is not None and (best is None or ls[t[0]] + le[t[1]] > best[0]):
                        best = (float(ls[t[0]] + le[t[1]]), k, t[0], t[1])
                continue
            a, z = w["ctx"]
            n = z - a
            band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_ANSWER_LEN)
            grid = np.where(band, ls[a:z, None] + le[None, a:z], -np.inf)
            i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
            if best is None or grid[i, j] > best[0]:
                best = (float(grid[i, j]), k, a + int(i), a + int(j))
        if best is None:  # the answer occurs only across a window edge: fall back to the best span
            return self._span(context, None, windows, lenient)
        return best[1], best[2], best[3], best[0]

    def resolve(self, encoded, targets):
        return [e.qa_target for e in encoded]

    def follow(self, targets, pairs):
        """The pair's own span: the same answer text where its context has it, else the pair's best span."""
        return [e.qa_target for e in pairs]


def _word_lookup(tok, text: str) -> dict[tuple[int, int], tuple[int, tuple[int, int]]]:
    """Token character offsets → (word id, word character span), from the tokenizer's own words of ``text``."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    spans: dict[int, list[int]] = {}
    out_ids: dict[tuple[int, int], int] = {}
    for o, w in zip(enc["offset_mapping"], enc.word_ids()):
        if w is None:
            continue
        out_ids[tuple(o)] = w
        sp = spans.setdefault(w, [o[0], o[1]])
        sp[0], sp[1] = min(sp[0], o[0]), max(sp[1], o[1])
    return {o: (w, tuple(spans[w])) for o, w in out_ids.items()}  # type: ignore[misc]


class Seq2SeqHead(Head):
    quantity = "teacher-forced log-probability of the target sequence (sum over its tokens, EOS included)"
    uses_reference = True
    contrast_skipped = ("contrastive attribution is not available for sequence-to-sequence models yet; "
                        "per-side explanations only")

    adapter: Seq2SeqLM

    def __init__(self, model: Seq2SeqLM) -> None:
        super().__init__(model)
        self.embedding = self.model.get_encoder().get_input_embeddings()
        self._decoder_embedding = self.model.get_decoder().get_input_embeddings()
        self._shared = self._decoder_embedding is self.embedding
        self._start = model.decoder_start_id
        self._pad = model.engine.pad_id

    def reference_tensor(self, targets: Sequence[Target]) -> torch.Tensor:
        """Target ids per row, padded with -1 (carried as the ``reference`` argument)."""
        width = max(len(t.reference) for t in targets)  # type: ignore[arg-type]  # resolve() sets every reference
        ref = torch.full((len(targets), width), -1, dtype=torch.long)
        for i, t in enumerate(targets):
            ref[i, : len(t.reference)] = torch.as_tensor(t.reference, dtype=torch.long)  # type: ignore[arg-type]
        return ref

    def select(self, kw, attention_mask, target_index, target_pos, reference):
        ref = reference.long()
        dec_mask = (ref >= 0).long()
        labels = torch.where(ref >= 0, ref, torch.full_like(ref, self._pad))
        dec_in = torch.cat([torch.full_like(labels[:, :1], self._start), labels[:, :-1]], dim=1)
        if self._shared:  # never call the hooked encoder embedding for the decoder's inputs
            emb = torch.nn.functional.embedding(dec_in, self._decoder_embedding.weight)
            kw["decoder_inputs_embeds"] = emb * getattr(self._decoder_embedding, "embed_scale", 1.0)
        else:
            kw["decoder_input_ids"] = dec_in
        out = self.model(**kw, decoder_attention_mask=dec_mask)
        lp = out.logits.float().log_softmax(-1).gather(2, labels[..., None])[..., 0]
        return (lp * dec_mask).sum(1)

    def _default_target(self, text: str) -> str:
        return self.adapter.generate([text])[0]

    def resolve(self, encoded, targets):
        texts = [t if t is not None else self._default_target(e.text) for e, t in zip(encoded, targets)]
        scores = self.adapter.target_scores([e.text for e in encoded], texts)
        out = []
        for t, given, sc in zip(texts, targets, scores):
            out.append(Target(t, 0, 0, reference=np.asarray(sc.ids, dtype=np.int64),
                              prediction={"target": t, "target_logprob": sc.total, "n_target_tokens": len(sc.ids),
                                          "first_token_logprob": float(sc.logprobs[0]) if len(sc.ids) else None,
                                          "target_source": "given" if given is not None else "greedy generation"}))
        return out

    def follow(self, targets, pairs):
        return self.resolve(pairs, [t.name for t in targets])

    def position_after(self, target_pos, kept):
        return 0

