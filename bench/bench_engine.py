"""Engine vs transformers.pipeline (batched) vs a per-example loop, in one process, same predictions.

Mixed-length inputs (5 to 400 tokens), one model: a MiniLM-L6-sized BERT classifier (random init on
CPU; bert-base size with --size base). Prints a table of throughput and ratios.

    python bench/bench_engine.py            # 2,000 texts
    python bench/bench_engine.py --n 500 --size base
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time

import numpy as np
import torch

from summary import summary


def mixed_texts(n: int, seed: int = 0) -> list[str]:
    from wordfreq import top_n_list

    words = top_n_list("en", 5000)
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(5, 330))) for _ in range(n)]


def build_model(size: str, folder: str) -> str:
    import transformers as tr

    from audit.testing import minilm_tokenizer

    tok = minilm_tokenizer()
    dims = {"minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
            "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)}[size]
    torch.manual_seed(0)
    model = tr.BertForSequenceClassification(tr.BertConfig(vocab_size=len(tok), max_position_embeddings=512, **dims))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", choices=["minilm", "base"], default="minilm")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    from transformers import pipeline

    from audit.loading import load

    texts = mixed_texts(args.n)
    folder = build_model(args.size, tempfile.mkdtemp())
    m = load(folder, progress=False, use_cache=False, device=args.device)
    lengths = [len(x) for x in m.engine.encode(texts)]
    print(f"{args.n} texts, {min(lengths)}–{max(lengths)} tokens (mean {np.mean(lengths):.0f}), model {args.size}, "
          f"device {m.info.device}, dtype {m.info.dtype}, torch threads {torch.get_num_threads()}")

    with torch.inference_mode():  # warm the runtime (thread pool, kernels) once, for all three methods alike
        m.model(**m.tokenizer(texts[:8], padding=True, truncation=True, max_length=64, return_tensors="pt").to(m.model.device))
    rows = []
    t = time.perf_counter()
    ours = m.class_probs(texts)  # a fresh engine: its in-memory cache is empty, so this measures the model
    if m.engine.stats.cpu_batch_tokens is not None:
        print(f"engine CPU trial kept {m.engine.stats.cpu_batch_tokens or 'one text per pass'} tokens per batch")
    rows.append(("transformer-audit engine", time.perf_counter() - t))

    pipe = pipeline("text-classification", model=m.model, tokenizer=m.tokenizer, device=m.model.device)
    t = time.perf_counter()
    with torch.inference_mode():
        out = pipe(texts, batch_size=32, truncation=True, max_length=m.max_length, top_k=None)
    rows.append(("transformers.pipeline(batch_size=32)", time.perf_counter() - t))
    theirs = np.array([[d["score"] for d in sorted(o, key=lambda d: m.labels.index(d["label"]))] for o in out])

    t = time.perf_counter()
    loop = []
    with torch.inference_mode():
        for text in texts:
            enc = m.tokenizer(text, truncation=True, max_length=m.max_length, return_tensors="pt").to(m.model.device)
            loop.append(m.model(**enc).logits.float().softmax(-1)[0].cpu().numpy())
    rows.append(("per-example loop", time.perf_counter() - t))
    loop = np.stack(loop)

    agree_pipe = float(np.mean(ours.argmax(1) == theirs.argmax(1)))
    agree_loop = float(np.mean(ours.argmax(1) == loop.argmax(1)))
    tol = 2e-2 if m.info.dtype != "float32" else 1e-4
    print(f"same predictions: pipeline {agree_pipe:.1%}, loop {agree_loop:.1%}; max |Δp| vs loop {np.abs(ours - loop).max():.2e} (tol {tol})")
    assert np.abs(ours - loop).max() < tol, "engine output differs from the per-example loop"
    base = rows[0][1]
    print("\n| method | seconds | texts/s | engine speed-up |\n|---|---:|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {args.n / sec:.1f} | {sec / base:.2f}× |")
    for name, sec in rows[1:]:
        summary(f"engine vs {name} ({args.n} mixed-length texts, {args.size})", f"{args.n / base:.1f} texts/s",
                f"{args.n / sec:.1f} texts/s", sec / base, note=f"{m.info.device}, {m.info.dtype}")


if __name__ == "__main__":
    main()
