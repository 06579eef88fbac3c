"""Encoder-decoder models (T5, BART, Marian): teacher-forced target log-likelihood and generation, through the
engine like every other adapter (one bulk tokenisation, length-sorted batches under the token budget, the
output cache, device and dtype chosen at load time).

Explanation target: the teacher-forced log-probability of the **whole target sequence** (sum over its
tokens, EOS included, as ``Seq2SeqLM.target_scores`` computes it), attributed to the encoder's input
embeddings; the decoder's inputs are fixed. Without a target, the model's own greedy output is explained.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audit.engine import Batch, padded
from audit.errors import AuditError
from audit.explain.targets import Head, Target
from audit.tasks.base import AuditedModel, TokenScores, check_texts
from audit.tasks.entry import TaskHead


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
        srcs = check_texts("sources", sources)
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
        src_ids = self.engine.encode(check_texts("sources", sources))
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


ENTRY = TaskHead("text2text-generation", Seq2SeqLM, Seq2SeqHead, "AutoModelForSeq2SeqLM",
                 architectures=("ForConditionalGeneration",), serves=frozenset({"text2text-generation"}))
