"""Tokenizers trained here, at test time, whose behaviour can be worked out by hand."""
from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

LATIN_TEXT = [
    "All human beings are born free and equal in dignity and rights.",
    "They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
    "Everyone has the right to life, liberty and security of person.",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 .,;:!?'\"()-",
] * 5


def wrap(tok: Tokenizer, unk: str = "[UNK]") -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, pad_token=unk)


@pytest.fixture(scope="session")
def latin_wordpiece() -> PreTrainedTokenizerFast:
    """A WordPiece trained on English text only: no character of any other script is in its vocabulary."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(LATIN_TEXT, trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[UNK]"], show_progress=False))
    return wrap(tok)


@pytest.fixture(scope="session")
def char_wordpiece():
    """char_wordpiece(texts): a WordPiece whose vocabulary is exactly the characters of ``texts`` (each also as a
    ##continuation), so every word costs one token per character: fertility and premium are countable by hand."""

    def build(texts: list[str]) -> PreTrainedTokenizerFast:
        chars = sorted({c for t in texts for c in t if not c.isspace()})
        vocab = {"[UNK]": 0}
        for c in chars:
            vocab.setdefault(c, len(vocab))
            vocab.setdefault("##" + c, len(vocab))
        tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=10_000))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return wrap(tok)

    return build


@pytest.fixture(scope="session")
def word_level():
    """word_level(texts): a WordLevel tokenizer trained on ``texts``: a known word is one token, any other [UNK]."""

    def build(texts: list[str]) -> PreTrainedTokenizerFast:
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]"], show_progress=False))
        return wrap(tok)

    return build
