"""Tokenizer coverage measures, for any fast Hugging Face tokenizer, computed in bulk.

Every string is tokenised in one batched call of the fast (Rust) tokenizer: the unique words of all
languages together, the parallel CLDR names together, the exemplar characters together. Nothing here
loops over a tokenizer call per word.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

_BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table (as in its encoder.py), used by every byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@dataclass(frozen=True)
class TokenizerFacts:
    """What the coverage measures need to know about a tokenizer."""

    tokenizer: Any
    backend: Any
    """A copy of the Rust tokenizer without truncation or padding, called directly (the transformers wrapper
    costs more than the tokenisation itself on short strings)."""
    unk_id: int | None
    byte_ids: np.ndarray
    """Boolean mask over ids: byte pieces (SentencePiece ``<0xNN>`` fallback tokens, or byte-level BPE tokens
    that are not whole UTF-8 characters)."""
    prefix_space: bool
    """Byte-level BPE without its own prefix space: a word tokenised alone gets the leading space it has in
    running text (otherwise every word would be cut as if glued to the previous one)."""
    model_type: str


def inspect_tokenizer(tokenizer: Any) -> TokenizerFacts:
    """Read the tokenizer's model type, UNK id, byte pieces and pre-tokenizer from its backend."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(spec.get("decoder"))
    prefix_space = _byte_level_without_prefix(spec.get("pre_tokenizer"))
    vocab = tokenizer.get_vocab()
    size = max(max(vocab.values(), default=0) + 1, len(tokenizer))
    mask = np.zeros(size, dtype=bool)
    special = set(tokenizer.all_special_tokens) | set(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    table = {c: b for b, c in _bytes_to_unicode().items()} if byte_level else {}
    for token, i in vocab.items():
        if token in special:
            continue
        if _BYTE_TOKEN.match(token):
            mask[i] = True
        elif byte_level and all(c in table for c in token):
            try:
                bytes(table[c] for c in token).decode("utf-8")
            except UnicodeDecodeError:
                mask[i] = True
    unk = tokenizer.unk_token_id
    unk = None if unk is None or unk < 0 else int(unk)
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return TokenizerFacts(tokenizer, backend, unk, mask, prefix_space, str(spec.get("model", {}).get("type", "?")))


def _byte_level_without_prefix(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel":
            return not node.get("add_prefix_space", False)
        return any(_byte_level_without_prefix(v) for v in node.get("pretokenizers", []) or [])
    return False


@dataclass(frozen=True)
class Counts:
    """Per string: number of tokens, whether any is UNK, how many are byte pieces."""

    tokens: np.ndarray
    unk: np.ndarray
    byte_pieces: np.ndarray


def count(facts: TokenizerFacts, texts: Sequence[str], *, word_prefix: bool = False) -> Counts:
    """Token counts of each text, tokenised on its own without special tokens, in one batched call."""
    n = len(texts)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Counts(z, z.astype(bool), z)
    batch = [" " + t for t in texts] if word_prefix and facts.prefix_space else list(texts)
    ids = [e.ids for e in facts.backend.encode_batch_fast(batch, add_special_tokens=False)]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=n)
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(n), lengths)
    unk = np.zeros(n, dtype=bool)
    if facts.unk_id is not None:
        unk[owner[flat == facts.unk_id]] = True
    in_range = flat < facts.byte_ids.size
    is_byte = np.zeros(flat.size, dtype=bool)
    is_byte[in_range] = facts.byte_ids[flat[in_range]]
    byte_pieces = np.bincount(owner[is_byte], minlength=n)
    return Counts(lengths, unk, byte_pieces)


def normalizer_effects(tokenizer: Any, chars: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each character: (lost, changed) by the tokenizer's normalizer.

    Lost: the normalizer maps it to nothing (an accent mark stripped, a control removed). Changed: it comes
    out as something else, other than its own lower case (accent stripping, compatibility mapping);
    lower-casing alone is not counted. Characters are normalised one at a time, which is exact for
    per-character rules (lower-casing, accent stripping, NFKC of single code points).
    """
    norm = getattr(tokenizer.backend_tokenizer, "normalizer", None)
    lost = np.zeros(len(chars), dtype=bool)
    changed = np.zeros(len(chars), dtype=bool)
    if norm is None:
        return lost, changed
    for i, c in enumerate(chars):
        out = norm.normalize_str(c).strip()
        if not out:
            lost[i] = True
        elif out not in (c, c.lower(), c.casefold()):
            changed[i] = True
    return lost, changed


def ratio_ci(x: np.ndarray, y: np.ndarray, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """Ratio of sums Σx/Σy and its delta-method 95% interval over paired items (ratio estimator).

    Var(R) ≈ Σ(x_i − R·y_i)² / (n (n − 1) ȳ²); for n < 2 or Σy = 0 the interval is (R, R) or undefined.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    if n == 0 or y.sum() <= 0:
        return math.nan, math.nan, math.nan
    r = float(x.sum() / y.sum())
    if n < 2:
        return r, r, r
    resid = x - r * y
    se = math.sqrt(float((resid**2).sum()) / (n * (n - 1))) / float(y.mean())
    return r, max(0.0, r - z * se), r + z * se


def mean_ci(x: np.ndarray, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """Mean and its normal-approximation 95% interval (one value: a degenerate interval)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, m, m
    half = z * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half
