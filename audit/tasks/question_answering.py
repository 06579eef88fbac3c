"""Extractive question answering: start/end scores over the context, the best span, scores of given spans.

It goes through the engine like every other adapter: one bulk tokenisation, length-sorted batches under
the token budget, the output cache, device and dtype chosen at load time.

It follows the transformers QA pipeline: long contexts are split into overlapping
windows of ``min(max_length, 384)`` tokens with an overlap of ``min(window // 2, 128)``; in each window
the start and end logits are soft-maxed over the context tokens and the CLS token, a span's score is
``p_start * p_end`` (at most ``max_answer_len`` tokens), and the best span over all windows wins; its
character offsets point into the original context.

Token type ids: the engine's ``Batch`` carries ids and masks only, so each window's first context
position travels in ``extras`` and ``forward`` rebuilds the segment ids from it (0 up to the context, 1
from there to the end of the sequence, as BERT tokenizers write them). The same extras mark which
positions may hold an answer, and they are part of the cache key; finding the separator again inside
``forward`` would depend on each tokenizer's layout (RoBERTa's ``</s></s>``, XLNet's trailing CLS).

Explanation target: the attributed scalar is the **log-odds that the answer starts** at the first token of the
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
"""
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audit.engine import Batch
from audit.errors import AuditError, unknown_name
from audit.explain.targets import Head, Target, log_odds
from audit.explain.words import Encoded, special_ids
from audit.tasks.base import AuditedModel, check_texts
from audit.tasks.entry import TaskHead

QA_WINDOW_CAP = 384
QA_STRIDE_CAP = 128
QA_STRATEGIES = ("window", "truncate")
MAX_ANSWER_LEN = 30


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return x - m - math.log(float(np.exp(x - m).sum()))


class QuestionAnswering(AuditedModel):
    """Extractive QA: start/end scores over the context, the best span, scores of given spans."""

    task = "question-answering"
    capabilities = frozenset({"qa"})

    @property
    def window(self) -> int:
        return min(self.max_length, QA_WINDOW_CAP)

    @property
    def uses_token_types(self) -> bool:
        return "token_type_ids" in getattr(self.tokenizer, "model_input_names", ()) and \
            "token_type_ids" in inspect.signature(self.model.forward).parameters

    # ---- windows and logits ------------------------------------------------------------------
    def _windows(self, questions: list[str], contexts: list[str]) -> list[dict[str, Any]]:
        """Every window of every pair: ids, offsets, context token range, CLS position, owner."""
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        q_lens = [len(x) for x in self.tokenizer(questions, add_special_tokens=False)["input_ids"]]
        base = min(self.window // 2, QA_STRIDE_CAP)
        strides = []
        for q, n in zip(questions, q_lens):
            room = self.window - n - specials
            if room < 2:
                raise AuditError(f"question of {n} tokens leaves no room for the context in a {self.window}-token window; "
                                 f"shorten it: {q[:60]!r}")
            strides.append(min(base, room - 1))
        windows: list[dict[str, Any]] = []
        by_stride: dict[int, list[int]] = {}
        for i, s in enumerate(strides):
            by_stride.setdefault(s, []).append(i)
        cls_id = self.tokenizer.cls_token_id
        for stride, members in by_stride.items():
            enc = self.tokenizer([questions[i] for i in members], [contexts[i] for i in members], truncation="only_second",
                                 max_length=self.window, stride=stride, return_overflowing_tokens=True,
                                 return_offsets_mapping=True, padding=False, verbose=False)
            for w, ids in enumerate(enc["input_ids"]):
                seq = enc.sequence_ids(w)
                ctx = [p for p, s in enumerate(seq) if s == 1]
                cls = [p for p, t in enumerate(ids) if cls_id is not None and t == cls_id]
                windows.append({"owner": members[enc["overflow_to_sample_mapping"][w]], "ids": list(ids),
                                "offsets": [tuple(o) for o in enc["offset_mapping"][w]],
                                "ctx": (ctx[0], ctx[-1] + 1), "cls": cls[0] if cls else None})
        windows.sort(key=lambda w: w["owner"])  # stable: windows of one pair stay in document order
        return windows

    def _logits(self, windows: list[dict[str, Any]]) -> list[np.ndarray]:
        """[2, length] start and end logits of each window (cached)."""
        types = self.uses_token_types

        def forward(b: Batch) -> list[np.ndarray]:
            inputs = self._model_inputs(b)
            if types:
                pos = torch.arange(b.input_ids.shape[1], device=b.input_ids.device)[None, :]
                start = torch.tensor([e[0] for e in b.extras], device=b.input_ids.device)[:, None]
                inputs["token_type_ids"] = ((pos >= start) & (b.attention_mask > 0)).long()
            out = self.model(**inputs)
            both = torch.stack([out.start_logits.float(), out.end_logits.float()], dim=1).cpu().numpy()
            return [both[r, :, :n] for r, n in enumerate(b.lengths)]

        return self.engine.map(f"qa_logits:types={types}", [w["ids"] for w in windows], forward,
                               extras=[list(w["ctx"]) for w in windows], desc="question answering")

    def _log_probs(self, w: dict[str, Any], logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p_start, log p_end over the window, normalised over the context tokens and CLS (others -inf)."""
        allowed = np.zeros(logits.shape[1], dtype=bool)
        allowed[w["ctx"][0] : w["ctx"][1]] = True
        if w["cls"] is not None:
            allowed[w["cls"]] = True
        out = []
        for row in logits:
            lp = np.full(row.shape, -np.inf)
            lp[allowed] = _log_softmax(row[allowed].astype(np.float64))
            out.append(lp)
        return out[0], out[1]

    # ---- public primitives -------------------------------------------------------------------
    def start_end_logits(self, questions: Sequence[str], contexts: Sequence[str], strategy: str = "window") -> list[list[dict[str, Any]]]:
        """Per pair, its windows: ``{"ids", "offsets", "ctx": (first, end), "cls", "logits": [2, len]}``.

        ``strategy="truncate"`` keeps the first window only: the context cut at the length limit.
        """
        if strategy not in QA_STRATEGIES:
            raise unknown_name("QA long-context strategy", strategy, QA_STRATEGIES)
        qs, cs = self._pairs(questions, contexts)
        windows = self._windows(qs, cs)
        if strategy == "truncate":
            windows = [w for i, w in enumerate(windows) if i == 0 or windows[i - 1]["owner"] != w["owner"]]
        per: list[list[dict[str, Any]]] = [[] for _ in qs]
        for w, lg in zip(windows, self._logits(windows)):
            per[w["owner"]].append({**w, "logits": lg})
        return per

    def answer(self, questions: Sequence[str], contexts: Sequence[str], *, max_answer_len: int = 30,
               strategy: str = "window") -> list[dict[str, Any]]:
        """The best span for each (question, context): ``{"answer", "start", "end", "score", "null_score"}``.

        ``score`` is p_start · p_end of the span within its window; ``null_score`` that of the empty answer
        (start = end = CLS), the largest over windows, or 0 when the tokenizer has no CLS token.
        """
        if max_answer_len < 1:
            raise AuditError(f"max_answer_len must be at least 1, got {max_answer_len}")
        results = []
        for context, windows in zip(contexts, self.start_end_logits(questions, contexts, strategy)):
            best: tuple[float, int, int] | None = None
            null = -np.inf
            for w in windows:
                ls, le = self._log_probs(w, w["logits"])
                a, z = w["ctx"]
                grid = ls[a:z, None] + le[None, a:z]
                n = z - a
                band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), max_answer_len)
                grid = np.where(band, grid, -np.inf)
                i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
                if best is None or grid[i, j] > best[0]:
                    best = (float(grid[i, j]), w["offsets"][a + i][0], w["offsets"][a + j][1])
                if w["cls"] is not None:
                    null = max(null, float(ls[w["cls"]] + le[w["cls"]]))
            assert best is not None
            score, start, end = best
            results.append({"answer": context[start:end], "start": int(start), "end": int(end),
                            "score": math.exp(score), "null_score": math.exp(null) if np.isfinite(null) else 0.0})
        return results

    def span_scores(self, questions: Sequence[str], contexts: Sequence[str],
                    candidates: Sequence[Sequence[str]], *, strategy: str = "window") -> np.ndarray:
        """log(p_start · p_end) of given answers, shape [n, k]; ``""`` is the empty (CLS) answer.

        A candidate is scored at its best whole-word occurrence in the context and best window; one that does not
        occur in its context is an error; one outside every window used (``strategy="truncate"``) and an empty
        answer without a CLS token score -inf.
        """
        if len(candidates) != len(questions):
            raise AuditError(f"span_scores got {len(questions)} questions but {len(candidates)} candidate lists; give one list per question")
        k = len(candidates[0]) if len(candidates) else 0
        if any(len(c) != k for c in candidates):
            raise AuditError("span_scores needs the same number of candidates for every question")
        out = np.full((len(questions), k), -np.inf)
        for r, (context, cands, windows) in enumerate(zip(contexts, candidates, self.start_end_logits(questions, contexts, strategy))):
            probs = [self._log_probs(w, w["logits"]) for w in windows]
            for c, cand in enumerate(cands):
                if cand == "":
                    for w, (ls, le) in zip(windows, probs):
                        if w["cls"] is not None:
                            out[r, c] = max(out[r, c], ls[w["cls"]] + le[w["cls"]])
                    continue
                spans = _occurrences(context, cand)
                if not spans:
                    raise AuditError(f"candidate answer {cand!r} does not occur in its context; span_scores scores spans "
                                     "of the context (use '' for no answer)")
                for w, (ls, le) in zip(windows, probs):
                    for cs, ce in spans:
                        tok = _token_span(w, cs, ce)
                        if tok is not None:
                            out[r, c] = max(out[r, c], ls[tok[0]] + le[tok[1]])
        return out

    def _pairs(self, questions: Sequence[str], contexts: Sequence[str]) -> tuple[list[str], list[str]]:
        qs, cs = check_texts("questions", questions), check_texts("contexts", contexts)
        if len(qs) != len(cs):
            raise AuditError(f"got {len(qs)} questions but {len(cs)} contexts; give one context per question")
        return qs, cs


def _occurrences(text: str, sub: str) -> list[tuple[int, int]]:
    """Character spans of ``sub`` in ``text`` as a whole word ("man" is not found inside "woman")."""
    left = r"(?<!\w)" if sub[:1].isalnum() else ""
    right = r"(?!\w)" if sub[-1:].isalnum() else ""
    return [(m.start(), m.end()) for m in re.finditer(left + re.escape(sub) + right, text)]


def _token_span(w: dict[str, Any], cs: int, ce: int) -> tuple[int, int] | None:
    """First and last context token of the window covering characters [cs, ce), or None if not inside."""
    a, z = w["ctx"]
    offs = w["offsets"]
    toks = [p for p in range(a, z) if offs[p][1] > cs and offs[p][0] < ce]
    if not toks or offs[toks[0]][0] > cs or offs[toks[-1]][1] < ce:
        return None
    return toks[0], toks[-1]



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


ENTRY = TaskHead("question-answering", QuestionAnswering, QAHead, "AutoModelForQuestionAnswering",
                 architectures=("ForQuestionAnswering",), serves=frozenset({"question-answering", "feature-extraction"}))
