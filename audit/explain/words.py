"""Tokenise texts for attribution and group sub-word tokens back into words.

Every text is encoded once, in bulk, with the fast tokenizer's offsets and word ids, so token scores can be
summed into the words a reader sees. Special tokens ([CLS], [SEP], [MASK], <s>, a prepended BOS) belong to
no word: baselines keep them and faithfulness never removes them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from audit.errors import AuditError

if TYPE_CHECKING:  # pragma: no cover - at run time audit.tasks imports this module (its heads encode texts)
    from audit.tasks.base import AuditedModel


@dataclass(frozen=True)
class Encoded:
    """One text as the model sees it: token ids, which are special, and the word of each token."""

    text: str
    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    special: tuple[bool, ...]
    word_of_token: tuple[int | None, ...]
    words: tuple[str, ...]
    truncated: str | None = None

    @property
    def word_tokens(self) -> list[list[int]]:
        """Token positions of each word."""
        out: list[list[int]] = [[] for _ in self.words]
        for pos, w in enumerate(self.word_of_token):
            if w is not None:
                out[w].append(pos)
        return out

    def word_scores(self, token_scores: np.ndarray) -> np.ndarray:
        """Signed sum of the token scores of each word (sub-words merged back)."""
        return np.array([float(np.sum(token_scores[p])) for p in self.word_tokens], dtype=np.float64)


def special_ids(model: AuditedModel) -> set[int]:
    """Ids kept fixed in every baseline and never removed: the tokenizer's specials except [UNK]."""
    ids = set(model.tokenizer.all_special_ids)
    ids.discard(model.tokenizer.unk_token_id)
    return ids


def encode(model: AuditedModel, texts: Sequence[str], *, truncate: bool) -> list[Encoded]:
    """Encode ``texts`` in one tokenizer call; a text over the model's limit is an error unless ``truncate``.

    A causal LM gets a BOS token first (as its adapter scores text), which counts against the limit.
    """
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise AuditError(f"text {i + 1} is empty; give at least one word to explain")
    tok = model.tokenizer
    bos = None
    if model.prepends_bos:
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    limit = model.max_length - (1 if bos is not None else 0)
    full = tok(list(texts), add_special_tokens=True, return_offsets_mapping=True, truncation=False, verbose=False)
    specials = special_ids(model)
    out = []
    for i, text in enumerate(texts):
        ids = list(full["input_ids"][i])
        offsets = [tuple(o) for o in full["offset_mapping"][i]]
        word_ids = list(full.word_ids(i))
        truncated = None
        if len(ids) > limit:
            _, tail = _frame(ids, specials)
            keep = limit - len(tail)
            last_end = max((offsets[p][1] for p in range(keep) if word_ids[p] is not None), default=0)
            dropped = text[last_end:].strip()
            if not truncate:
                raise AuditError(
                    f"text {i + 1} is {len(ids)} tokens, over the model's limit of {model.max_length}; everything after "
                    f"{text[max(0, last_end - 30):last_end]!r} ({len(dropped)} characters) would be cut — shorten it, or "
                    f"pass truncate=True (--truncate) to explain the first {limit} tokens"
                )
            ids = ids[:keep] + ids[len(ids) - len(tail):] if tail else ids[:keep]
            offsets = offsets[:keep] + [(0, 0)] * len(tail)
            word_ids = word_ids[:keep] + [None] * len(tail)
            shown = dropped if len(dropped) <= 80 else f"{dropped[:40]} … {dropped[-30:]}"
            truncated = (f"the model reads the first {len(ids)} of {len(full['input_ids'][i])} tokens (characters 0–{last_end} "
                         f"of {len(text)}); {len(full['input_ids'][i]) - len(ids)} tokens cut after "
                         f"{text[max(0, last_end - 30):last_end]!r}: {shown!r}")
        if bos is not None and (not ids or ids[0] != bos):
            ids, offsets, word_ids = [bos] + ids, [(0, 0)] + offsets, [None] + word_ids
        special = [t in specials for t in ids]
        words, word_of_token = _group(text, offsets, word_ids, special)
        out.append(Encoded(text, tuple(ids), tuple(tok.convert_ids_to_tokens(ids)), tuple(special),
                           tuple(word_of_token), tuple(words), truncated))
    return out


def encode_windows(model: AuditedModel, texts: Sequence[str]) -> list[list[Encoded]]:
    """Each text as the model reads it under the window strategies: one Encoded per window, cut exactly as the
    engine cuts them (``Engine.shape_long``); a window's ``text`` is the stretch of characters it covers and its
    ``truncated`` note says which tokens those are. A text within the limit is one window, with no note."""
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise AuditError(f"text {i + 1} is empty; give at least one word to explain")
    tok = model.tokenizer
    rows, owner = model.engine.shape_long(list(texts), "window_mean")
    prefix, suffix = model.engine.special_frame()
    content = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    specials = special_ids(model)
    counts = [owner.count(i) for i in range(len(texts))]
    out: list[list[Encoded]] = [[] for _ in texts]
    nxt = [0] * len(texts)
    for row, i in zip(rows, owner):
        ids, text = list(content["input_ids"][i]), texts[i]
        piece = row[len(prefix): len(row) - len(suffix)]
        start = next(k for k in range(nxt[i], len(ids) - len(piece) + 1) if ids[k: k + len(piece)] == piece)
        nxt[i] = start + 1
        end = start + len(piece)
        span = content["offset_mapping"][i][start:end]
        a, z = (span[0][0], span[-1][1]) if span else (0, 0)
        offsets = [(0, 0)] * len(prefix) + [(o[0] - a, o[1] - a) for o in span] + [(0, 0)] * len(suffix)
        word_ids = [None] * len(prefix) + list(content.word_ids(i))[start:end] + [None] * len(suffix)
        special = [t in specials for t in row]
        words, word_of_token = _group(text[a:z], offsets, word_ids, special)
        note = None
        if counts[i] > 1:
            note = (f"window {len(out[i]) + 1} of {counts[i]}: the model reads text tokens {start + 1}–{end} of {len(ids)} "
                    f"(characters {a}–{z} of {len(text)}) here, and each window separately")
        out[i].append(Encoded(text[a:z], tuple(row), tuple(tok.convert_ids_to_tokens(list(row))), tuple(special),
                              tuple(word_of_token), tuple(words), note))
    return out


def _frame(ids: list[int], specials: set[int]) -> tuple[list[int], list[int]]:
    """The special tokens at the start and at the end of a sequence."""
    head = 0
    while head < len(ids) and ids[head] in specials:
        head += 1
    tail = len(ids)
    while tail > head and ids[tail - 1] in specials:
        tail -= 1
    return ids[:head], ids[tail:]


def _group(text: str, offsets: list[tuple[int, int]], word_ids: list[int | None],
           special: list[bool]) -> tuple[list[str], list[int | None]]:
    """Words (their text from the character offsets) and each token's word index (None for specials)."""
    words: list[str] = []
    spans: list[list[int]] = []
    index: dict[int, int] = {}
    word_of_token: list[int | None] = []
    for pos, (w, sp) in enumerate(zip(word_ids, special)):
        if w is None or sp:
            word_of_token.append(None)
            continue
        if w not in index:
            index[w] = len(words)
            words.append("")
            spans.append([offsets[pos][0], offsets[pos][1]])
        k = index[w]
        spans[k][0] = min(spans[k][0], offsets[pos][0])
        spans[k][1] = max(spans[k][1], offsets[pos][1])
        word_of_token.append(k)
    words = [text[a:b].strip() or "·" for a, b in spans]
    return words, word_of_token
