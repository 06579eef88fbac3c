"""How words are found, for scripts written with and without spaces.

Fertility is "subwords per word" (Rust et al. 2021), so it needs words. Where a script separates words
with spaces, a word is a whitespace-separated run with the punctuation, symbols and controls at its edges
removed (a run without letters, such as a number, is not a word). Where a language's sample averages more
than ``UNSPACED_LETTERS`` letters per whitespace-separated run — Han, Kana, Thai, Lao, Khmer, Burmese,
Tibetan and other scripts written without spaces between words — the units are extended grapheme clusters
(Unicode UAX #29, as the ``regex`` module finds them: a base character with its marks; one character
each for Han and Kana). Fertility in clusters is not comparable with fertility in words; tables name the unit.
"""
from __future__ import annotations

import regex

UNSPACED_LETTERS = 12.0
"""Mean letters per whitespace-separated run above which a text is treated as written without spaces
(languages written with spaces average 3 to 9 in the gflanguages samples; unspaced ones 16 and more)."""
_RUN = regex.compile(r"\S+")
_EDGES = regex.compile(r"^[\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}]+|[\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}]+$")
_LETTER = regex.compile(r"[\p{L}\p{M}\p{Cn}]")
"""Letters and marks; unassigned code points (scripts newer than the Unicode tables) count as letters."""
_CLUSTER = regex.compile(r"\X")


def words(text: str) -> list[str]:
    """Whitespace-separated runs with edge punctuation removed; runs without letters dropped."""
    out = []
    for run in _RUN.findall(text):
        w = _EDGES.sub("", run)
        if w and _LETTER.search(w):
            out.append(w)
    return out


def clusters(text: str) -> list[str]:
    """Extended grapheme clusters that contain a letter (punctuation, digits and spaces dropped)."""
    return [c for c in _CLUSTER.findall(text) if _LETTER.search(c)]


def is_unspaced(text: str) -> bool:
    """True when the text averages more than UNSPACED_LETTERS letters per whitespace-separated run."""
    letters = len(_LETTER.findall(text))
    return letters > 0 and letters / max(1, len(words(text))) > UNSPACED_LETTERS


def units(text: str) -> tuple[str, list[str]]:
    """("word" or "cluster", the units of ``text``) by the rule above."""
    if is_unspaced(text):
        return "cluster", clusters(text)
    return "word", words(text)
