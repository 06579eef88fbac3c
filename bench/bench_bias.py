"""Benchmark of the bias suite (not a timed test).

1. Every bias probe the default model serves, with its DEFAULT parameters, cache off: seconds per probe,
   the total, and the headline figures (largest gap per axis, WEAT effect sizes).
2. Cases per second of a BERT classifier on the counterfactual texts: the engine (one batched, length-sorted
   ``class_probs`` call) against a per-example loop over the same model, and their ratio.

    python bench/bench_bias.py                   # tiny BERT classifier for part 2
    python bench/bench_bias.py --size base       # bert-base-size random weights (slow on CPU)
    python bench/bench_bias.py --device cuda     # on a GPU
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from summary import summary


def bias_suite_on_default(device: str) -> None:
    from audit.loading import load
    from probes import registry

    start = time.perf_counter()
    model = load("default", device=device, progress=False, use_cache=False)
    load_s = time.perf_counter() - start
    print(f"default model loaded in {load_s:.1f} s ({model.info.task}, {model.info.device})")
    total = cpu_total = 0.0
    for name, cls in registry().items():
        if not name.startswith("bias."):
            continue
        probe = cls()
        if not probe.supports(model):
            print(f"  {name:26s} not applicable ({model.task})")
            continue
        t, c = time.perf_counter(), time.process_time()
        result = probe.run(model)
        s, cpu = time.perf_counter() - t, time.process_time() - c
        total += s
        cpu_total += cpu
        print(f"  {name:26s} {s:6.1f} s wall, {cpu:6.1f} s CPU   {result.headline}")
        if name == "bias.counterfactual":
            for row in result.tables["axes"]:
                print(f"      {row['axis']:19s} max gap {row['max_gap']:.3f} [{row['gap_ci_low']:.3f}, {row['gap_ci_high']:.3f}] "
                      f"{row['higher_group']} > {row['lower_group']}; flip {row['flip_rate']:.3f}; "
                      f"ScoreDev {row['score_dev']:.3f}; ScoreRange {row['score_range']:.3f}; "
                      f"{row['significant_tests']}/{row['tests']} tests significant; {row['n_texts']} texts")
        if name == "bias.weat":
            for row in result.tables["tests"]:
                print(f"      {row['test']:22s} d(ddof=1) {row['effect_size']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] "
                      f"d(ddof=0) {row['effect_size_ddof0']:+.3f}  p {row['p']:.4g} ({row['p_method']})  q {row['q']:.4g}")
        for g in result.gates:
            print(f"      gate {g.metric}: {g.status}")
    print(f"bias suite on the default model: {total:.1f} s of probes + {load_s:.1f} s loading = {total + load_s:.1f} s wall; "
          f"probes used {cpu_total:.1f} CPU-seconds, i.e. ≈ {cpu_total / torch.get_num_threads():.1f} s on "
          f"{torch.get_num_threads()} idle cores (goal: ≤ 30 s on 2 CPU cores)")
    summary("bias suite on the default model (probes)", f"{total:.1f} s", note="goal ≤ 30 s on 2 CPU cores")


def classifier_throughput(size: str, device: str, n: int) -> None:
    from audit.loading import load
    from audit.testing import build, minilm_tokenizer
    from probes.bias.lexicon import load_lexicon

    lex = load_lexicon()
    texts: list[str] = []
    for axis in lex.axes.values():
        texts += [f.render(t) for f in lex.frames(axis) for _, t in axis.terms]
    texts = texts[:n]
    with tempfile.TemporaryDirectory() as tmp:
        if size == "tiny":
            path = build("bert-classifier", tmp)
        else:
            import transformers as tr

            tok = minilm_tokenizer()
            tr.BertForSequenceClassification(tr.BertConfig(vocab_size=len(tok), num_labels=2)).save_pretrained(tmp)
            tok.save_pretrained(tmp)
            path = tmp
        model = load(str(path), device=device, progress=False, use_cache=False)
        model.class_probs(texts[:64])  # warm-up
        t = time.perf_counter()
        model.class_probs(texts)
        engine_s = time.perf_counter() - t
        k = min(len(texts), 400 if size == "tiny" else 100)
        t = time.perf_counter()
        with torch.inference_mode():
            for text in texts[:k]:
                enc = model.tokenizer(text, return_tensors="pt", truncation=True).to(model.model.device)
                model.model(**enc).logits.softmax(-1).cpu()
        loop_s = time.perf_counter() - t
    engine_rate, loop_rate = len(texts) / engine_s, k / loop_s
    print(f"{size} BERT classifier on {device}: engine {engine_rate:,.0f} cases/s ({len(texts)} texts), "
          f"per-example loop {loop_rate:,.0f} cases/s ({k} texts); ratio {engine_rate / loop_rate:.1f}x")
    summary(f"{size} BERT classifier, engine vs per-example loop", f"{engine_rate:,.0f} cases/s", f"{loop_rate:,.0f} cases/s",
            engine_rate / loop_rate, note=device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--n", type=int, default=3000, help="texts for the throughput comparison")
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} "
          "(other processes on the machine slow every wall-clock figure; CPU seconds are less affected)")
    if not args.skip_suite:
        bias_suite_on_default(args.device)
    classifier_throughput(args.size, args.device, args.n)


if __name__ == "__main__":
    main()
