"""Contrastive attributions: explain the *gap* of a counterfactual pair, not each side on its own.

Integrated Gradients from the counterfactual x_cf to the text x (the baseline is the counterfactual's own token
embeddings) gives attributions that sum to F(x) − F(x_cf) (completeness, Sundararajan et al. 2017) — an exact
decomposition of the finding over the text's tokens.

Alignment. Both sides must have the same length, token by token. The two token sequences are aligned with
difflib (longest matching blocks, junk heuristic off): equal runs pair up; where the swapped spans differ in
token count the shorter span is padded *inside the span* with the baseline token ([PAD]), so every token
outside the spans keeps its partner and its position offset stays as small as possible. With fills the aligned
rows are not exactly the two texts the model scores, so both are reported: the gap F(x) − F(x_cf) of the real
texts and the part of it the fills change (``alignment_effect``); it is 0 when no fill was needed.

What the decomposition can and cannot say. Tokens outside the swapped span have the same embedding on both
sides, so IG gives them exactly 0 (its dummy axiom): the span's share of the attributions is the whole gap. How
much of the gap the swapped words carry *on their own* and how much comes *through the rest of the sentence*
is measured by two more forward passes: the swapped words with every other token replaced by the baseline
token on both sides (special tokens and the token the target is read at are kept) — ``own_effect`` — and
``context_effect`` = gap − own_effect (their interaction with the sentence).
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.explain.batching import Job
from audit.explain.targets import Target
from audit.explain.words import Encoded

MIN_SHARED = 0.5
"""Pairs whose token alignment matches fewer than this fraction of the longer side's tokens (special tokens
included) are not contrasted (a translation, a paraphrase): their 'swapped span' would be nearly the whole text."""


@dataclass(frozen=True)
class Aligned:
    """Two token rows of equal length; ``origin``/``pair_origin``: each position's index in the text / in the
    pair (None for a fill)."""

    text_ids: tuple[int, ...]
    pair_ids: tuple[int, ...]
    origin: tuple[int | None, ...]
    pair_origin: tuple[int | None, ...]
    in_span: tuple[bool, ...]
    fills: int
    shared: float


def align(text: Sequence[int], pair: Sequence[int], fill: int) -> Aligned:
    """Token-align ``text`` and ``pair``: equal runs pair up, the shorter side of each swapped span is padded
    with ``fill`` at the span's end."""
    a_out: list[int] = []
    b_out: list[int] = []
    origin: list[int | None] = []
    pair_origin: list[int | None] = []
    span: list[bool] = []
    fills = 0
    matcher = difflib.SequenceMatcher(None, list(text), list(pair), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            a_out += text[i1:i2]
            b_out += pair[j1:j2]
            origin += range(i1, i2)
            pair_origin += range(j1, j2)
            span += [False] * (i2 - i1)
            continue
        n = max(i2 - i1, j2 - j1)
        a_out += list(text[i1:i2]) + [fill] * (n - (i2 - i1))
        b_out += list(pair[j1:j2]) + [fill] * (n - (j2 - j1))
        origin += list(range(i1, i2)) + [None] * (n - (i2 - i1))
        pair_origin += list(range(j1, j2)) + [None] * (n - (j2 - j1))
        span += [True] * n
        fills += 2 * n - (i2 - i1) - (j2 - j1)
    matched = sum(b.size for b in matcher.get_matching_blocks())
    return Aligned(tuple(a_out), tuple(b_out), tuple(origin), tuple(pair_origin), tuple(span), fills,
                   matched / max(len(text), len(pair), 1))


@dataclass(frozen=True)
class Contrast:
    """The gap of one pair, attributed to the text's tokens (IG from the counterfactual to the text).

    ``value``/``pair_value``: F(text), F(counterfactual) of the real texts (the same target, read at aligned tokens); ``aligned_value``/``aligned_pair_value``:
    F on the aligned rows (equal to them when ``fills`` is 0); the attributions sum to their difference within
    ``delta``. ``span_share``/``rest_share``: Σ attributions over the swapped span / over every other token.
    ``own_effect``: the gap with every non-span token replaced by the baseline token; ``context_effect`` = gap − it.
    """

    text: str
    counterfactual: str
    quantity: str
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    word_of_token: tuple[int | None, ...]
    token_scores: tuple[float, ...]
    word_scores: tuple[float, ...]
    span_words: tuple[int, ...]
    value: float
    pair_value: float
    aligned_value: float
    aligned_pair_value: float
    own_effect: float
    delta: float | None
    relative_delta: float | None
    n_steps: int | None
    converged: bool | None
    fills: int
    span_share: float = field(init=False)
    rest_share: float = field(init=False)

    def __post_init__(self) -> None:
        span = set(self.span_words)
        object.__setattr__(self, "span_share", float(sum(s for w, s in enumerate(self.word_scores) if w in span)))
        object.__setattr__(self, "rest_share", float(sum(s for w, s in enumerate(self.word_scores) if w not in span)))

    @property
    def gap(self) -> float:
        return self.value - self.pair_value

    @property
    def alignment_effect(self) -> float:
        """How much the fills change the gap: (F(aligned text) − F(aligned pair)) − (F(text) − F(pair))."""
        return (self.aligned_value - self.aligned_pair_value) - self.gap

    @property
    def context_effect(self) -> float:
        return self.gap - self.own_effect

    @property
    def scaled_word_scores(self) -> tuple[float, ...]:
        top = max((abs(s) for s in self.word_scores), default=0.0)
        return tuple(s / top if top > 0 else 0.0 for s in self.word_scores)

    def to_dict(self) -> dict[str, Any]:
        from audit.results import _clean

        d = dataclasses.asdict(self)
        d.update(gap=self.gap, alignment_effect=self.alignment_effect, context_effect=self.context_effect,
                 scaled_word_scores=list(self.scaled_word_scores))
        return _clean(d)


def contrast_job(text: Encoded, pair: Encoded, target: Target, pair_target: Target, tokenizer: Any,
                 fill: int) -> tuple[Job, Aligned, Target] | None:
    """The IG job integrating from ``pair`` to ``text``, and the target F(pair) is read with: the text's target at
    the pair's token aligned with the text's target token (the pair's own target position where that token was
    swapped). None when the two are not token-aligned enough."""
    al = align(text.ids, pair.ids, fill)
    if al.shared < MIN_SHARED:
        return None
    words: list[str] = []
    index: dict[int, int] = {}
    word_of_token: list[int | None] = []
    special: list[bool] = []
    for p, o in enumerate(al.origin):
        if o is not None:
            special.append(text.special[o])
            w = text.word_of_token[o]
            if w is None or text.special[o]:
                word_of_token.append(None)
                continue
            if w not in index:
                index[w] = len(words)
                words.append(text.words[w])
            word_of_token.append(index[w])
            continue
        special.append(False)  # a fill is attributed: it joins its span's previous word, or names what is missing
        if p and al.in_span[p - 1] and word_of_token[-1] is not None:
            word_of_token.append(word_of_token[-1])
            continue
        end = p
        while end < len(al.origin) and al.origin[end] is None:
            end += 1
        missing = tokenizer.convert_ids_to_tokens(list(al.pair_ids[p:end]))
        words.append("⟨" + tokenizer.convert_tokens_to_string(missing).strip() + "⟩")
        word_of_token.append(len(words) - 1)
    mapped = {o: p for p, o in enumerate(al.origin) if o is not None}
    enc = Encoded(text.text, al.text_ids, tuple(tokenizer.convert_ids_to_tokens(list(al.text_ids))), tuple(special),
                  tuple(word_of_token), tuple(words), text.truncated)
    at = mapped.get(target.position, len(al.origin) - 1)
    job = Job(enc, dataclasses.replace(target, position=at, segment=mapped.get(target.segment, 0) if target.segment else 0),
              baseline=al.pair_ids)
    origin = al.pair_origin[at]
    pair_at = origin if not al.in_span[at] and origin is not None else pair_target.position
    return job, al, dataclasses.replace(target, position=pair_at)


def own_rows(job: Job, al: Aligned, base_id: int) -> tuple[list[int], list[int]]:
    """Both aligned rows with every token outside the swapped span set to the baseline token (specials and the
    token the target is read at — a token label's token, a causal LM's last token — are kept)."""
    keep = [s or sp or p == job.target.position for p, (s, sp) in enumerate(zip(al.in_span, job.enc.special))]
    return ([t if k else base_id for t, k in zip(al.text_ids, keep)], [t if k else base_id for t, k in zip(al.pair_ids, keep)])


def span_words(job: Job, al: Aligned) -> tuple[int, ...]:
    """Indices (into the contrastive words) of the words that hold a swapped-span token."""
    return tuple(sorted({w for w, s in zip(job.enc.word_of_token, al.in_span) if s and w is not None}))
