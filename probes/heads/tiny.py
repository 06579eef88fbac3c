"""Tiny random question-answering and sequence-to-sequence models for tests and examples.

Like ``audit.testing.build``: a random-initialised model saved with ``save_pretrained`` beside a real fast
tokenizer, so tests load it through ``audit.loading.load`` exactly as users do.
"""
from __future__ import annotations

from pathlib import Path

import torch

from audit.testing import SMALL, TRAIN_TEXT, bpe_tokenizer, minilm_tokenizer

KINDS = ("bert-qa", "roberta-qa", "bart", "t5")


def t5_tokenizer(vocab_size: int = 400):
    """A byte-level BPE with T5's conventions: <pad>=0, </s>=1, <unk>=2, EOS appended to every sequence."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TRAIN_TEXT, vocab_size=vocab_size, min_frequency=1, special_tokens=["<pad>", "</s>", "<unk>"],
                            show_progress=False)
    bpe.post_processor = TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def build(kind: str, path: str | Path, *, seed: int = 0, max_length: int = 64) -> Path:
    """Write a tiny model of ``kind`` (bert-qa, roberta-qa, bart, t5) into ``path`` and return it."""
    import transformers as tr

    torch.manual_seed(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model: torch.nn.Module
    if kind == "bert-qa":
        tok = minilm_tokenizer()
        model = tr.BertForQuestionAnswering(tr.BertConfig(vocab_size=len(tok), max_position_embeddings=max_length, **SMALL))
    elif kind == "roberta-qa":
        tok = bpe_tokenizer("roberta")
        model = tr.RobertaForQuestionAnswering(tr.RobertaConfig(
            vocab_size=len(tok), max_position_embeddings=max_length + 2, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, type_vocab_size=1, **SMALL))
    elif kind == "bart":
        tok = bpe_tokenizer("roberta")
        model = tr.BartForConditionalGeneration(tr.BartConfig(
            vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=max_length,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None))
    elif kind == "t5":
        tok = t5_tokenizer()
        # T5Config's signature omits decoder_start_token_id; its base class stores the extra key all the same.
        model = tr.T5ForConditionalGeneration(tr.T5Config(  # type: ignore[call-arg]
            vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id))
    else:
        raise ValueError(f"unknown tiny head kind {kind!r}; choose from {', '.join(KINDS)}")
    tok.model_max_length = max_length
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
