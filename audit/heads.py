"""Adapters for extractive question answering and sequence-to-sequence heads.

Both go through the engine like every other adapter: one bulk tokenisation, length-sorted batches under
the token budget, the output cache, device and dtype chosen at load time.

Question answering follows the transformers QA pipeline: long contexts are split into overlapping
windows of ``min(max_length, 384)`` tokens with an overlap of ``min(window // 2, 128)``; in each window
the start and end logits are soft-maxed over the context tokens and the CLS token, a span's score is
``p_start * p_end`` (at most ``max_answer_len`` tokens), and the best span over all windows wins; its
character offsets point into the original context.

Token type ids: the engine's ``Batch`` carries ids and masks only, so each window's first context
position travels in ``extras`` and ``forward`` rebuilds the segment ids from it (0 up to the context, 1
from there to the end of the sequence, as BERT tokenizers write them). The same extras mark which
positions may hold an answer, and they are part of the cache key; finding the separator again inside
``forward`` would depend on each tokenizer's layout (RoBERTa's ``</s></s>``, XLNet's trailing CLS).
"""
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from audit.engine import Batch, padded
from audit.errors import AuditError, unknown_name
from audit.models import AuditedModel, TokenScores

QA_WINDOW_CAP = 384
QA_STRIDE_CAP = 128
QA_STRATEGIES = ("window", "truncate")


def _check_texts(kind: str, texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise AuditError(f"{kind} must be a list of strings, not one string; wrap it in a list")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise AuditError(f"{kind}[{i}] is empty; every {kind[:-1]} needs some text")
    return out


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
        qs, cs = _check_texts("questions", questions), _check_texts("contexts", contexts)
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


class Seq2SeqLM(AuditedModel):
    """Encoder-decoder models (T5, BART, Marian): teacher-forced target log-likelihood and generation."""

    task = "text2text-generation"
    capabilities = frozenset({"seq2seq_scores", "generate"})

    @property
    def decoder_start_id(self) -> int:
        gen = getattr(self.model, "generation_config", None)
        start = getattr(gen, "decoder_start_token_id", None) if gen is not None else None
        if start is None:
            start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            raise AuditError(f"{self.info.spec} sets no decoder_start_token_id in its config; add it to config.json")
        return int(start)

    def encode_targets(self, targets: Sequence[str]) -> list[list[int]]:
        """Target ids as the model was trained on them (``text_target``, with the tokenizer's EOS)."""
        if isinstance(targets, str):
            raise AuditError("targets must be a list of strings, not one string; wrap it in a list")
        ids = [list(x) for x in self.tokenizer(text_target=list(targets), truncation=False, verbose=False)["input_ids"]] if targets else []
        for t, s in zip(targets, ids):
            if len(s) > self.max_length:
                raise AuditError(f"target of {len(s)} tokens is longer than the model's limit {self.max_length}; shorten it: {t[:60]!r}")
        return ids

    def target_scores(self, sources: Sequence[str], targets: Sequence[str]) -> list[TokenScores]:
        """log P(target token i | source, target tokens < i) for every target token, EOS included."""
        srcs = _check_texts("sources", sources)
        if len(srcs) != len(targets):
            raise AuditError(f"got {len(srcs)} sources but {len(targets)} targets; give one target per source")
        src_ids = self.engine.encode(srcs)
        tgt_ids = self.encode_targets(targets)
        start_id, pad = self.decoder_start_id, self.engine.pad_id

        def forward(b: Batch) -> list[np.ndarray]:
            dev = b.input_ids.device
            width = max(len(t) for t in b.extras)
            labels = torch.full((len(b.extras), width), pad, dtype=torch.long)
            dec_mask = torch.zeros_like(labels)
            for r, t in enumerate(b.extras):
                labels[r, : len(t)] = torch.tensor(t)
                dec_mask[r, : len(t)] = 1
            dec_in = torch.cat([torch.full((len(b.extras), 1), start_id, dtype=torch.long), labels[:, :-1]], dim=1)
            out = self.model(**self._model_inputs(b), decoder_input_ids=dec_in.to(dev), decoder_attention_mask=dec_mask.to(dev))
            lp = out.logits.float().log_softmax(-1).gather(2, labels.to(dev)[..., None])[..., 0]
            return [lp[r, : len(t)].cpu().numpy().astype(np.float64) for r, t in enumerate(b.extras)]

        outs = self.engine.map(f"seq2seq_ll:start={start_id}", src_ids, forward, extras=tgt_ids, desc="target log-likelihood")
        return [TokenScores(tuple(self.tokenizer.convert_ids_to_tokens(t)), tuple(t), o) for t, o in zip(tgt_ids, outs)]

    def generate(self, sources: Sequence[str], *, num_beams: int = 1, max_new_tokens: int = 64) -> list[str]:
        """Deterministic decoding (greedy, or beam search with ``num_beams`` > 1), at most ``max_new_tokens``.

        Batches are sorted by source length and sized by what decoding holds in memory, num_beams ·
        (source + new tokens) per row, under the engine's token budget; each batch goes through
        ``engine.map`` so outputs are cached (decoding is deterministic) and OOM halves the batch.
        """
        if num_beams < 1 or max_new_tokens < 1:
            raise AuditError(f"num_beams and max_new_tokens must be at least 1, got {num_beams} and {max_new_tokens}")
        if max_new_tokens > self.max_length:
            raise AuditError(f"max_new_tokens {max_new_tokens} is over the model's length limit {self.max_length}; lower it")
        src_ids = self.engine.encode(_check_texts("sources", sources))
        start_id, pad = self.decoder_start_id, self.engine.pad_id

        def forward(b: Batch) -> list[np.ndarray]:
            out = self.model.generate(  # type: ignore[operator]  # a seq2seq model is a GenerationMixin
                input_ids=b.input_ids, attention_mask=b.attention_mask, num_beams=num_beams, max_new_tokens=max_new_tokens,
                do_sample=False, decoder_start_token_id=start_id, pad_token_id=pad, num_return_sequences=1)
            seqs = out.sequences if hasattr(out, "sequences") else out
            return [_strip_generated(row.cpu().numpy(), start_id, pad, self.tokenizer.eos_token_id) for row in seqs]

        order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]), reverse=True)
        found: dict[int, np.ndarray] = {}
        pos = 0
        while pos < len(order):
            cost = num_beams * (padded(len(src_ids[order[pos]])) + max_new_tokens)
            chunk = order[pos : pos + max(1, self.engine.token_budget // cost)]
            outs = self.engine.map(f"generate:beams={num_beams}:new={max_new_tokens}:start={start_id}",
                                   [src_ids[i] for i in chunk], forward, desc="generate")
            found.update(zip(chunk, outs))
            pos += len(chunk)
        return [self.tokenizer.decode(found[i].tolist(), skip_special_tokens=True).strip() for i in range(len(src_ids))]


def _strip_generated(row: np.ndarray, start_id: int, pad: int, eos: int | None) -> np.ndarray:
    """Generated ids without the decoder start token, and nothing after the first EOS."""
    ids = row[1:] if len(row) and row[0] == start_id else row
    if eos is not None:
        hits = np.nonzero(ids == eos)[0]
        if len(hits):
            ids = ids[: hits[0] + 1]
    if pad != eos:
        ids = ids[ids != pad]
    return ids.astype(np.int64)


ADAPTERS: dict[str, type[AuditedModel]] = {
    "question-answering": QuestionAnswering,
    "text2text-generation": Seq2SeqLM,
}
