"""Benchmark of the long-input suite on the default model (all-MiniLM-L6-v2).

Prints three tables:
  1. the suite with default parameters: wall and CPU seconds per probe, tokens run, and the figures it reports
     (effective length, truncation limit, share dropped, best remedy);
  2. batched sliding windows (the engine's ``window_mean`` strategy) against a per-window loop (one call per
     window, as a user without the engine would write it), same windows, same model: seconds and the ratio;
  3. peak resident memory while one 8k-token input runs through the windows.

    python bench/bench_long_input.py [--texts 4] [--tokens 2048]

No model cache is used (``use_cache=False``), so every forward pass is really run.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch

from summary import summary


def suite(model) -> None:
    from probes.long_input.encoder import EncoderProbe
    from probes.long_input.needle import NeedleProbe

    print("== long-input suite, default parameters, default model ==")
    print(f"limit in force: {model.max_length} tokens ({model.info.provenance})")
    total = cpu_total = 0.0
    for probe in (NeedleProbe(), EncoderProbe()):
        before, cpu = model.engine.stats.tokens, time.process_time()
        result = probe.run(model)
        cpu = time.process_time() - cpu
        total += result.seconds
        cpu_total += cpu
        print(f"{probe.name:22s} {result.seconds:7.2f} s wall  {cpu:7.2f} s CPU  {model.engine.stats.tokens - before:7d} tokens run")
        print(f"    {result.headline}")
        if probe.name == "long_input.needle":
            best = next((m for m in result.metrics if m.name == "best_remedy_agreement"), None)
            print(f"    effective length {result.metric('effective_length').value}, share dropped at the longest length "
                  f"{result.metric('share_dropped').value}, best remedy {best.group if best else None} ({best.value if best else None:.3f})")
            for row in result.tables["remedies"]:
                if row["past_limit"]:
                    print(f"    L={row['length']:5d} {row['strategy']:12s} agreement {row['agreement']:.3f} "
                          f"[{row['agreement_low']:.3f}, {row['agreement_high']:.3f}] q={row.get('q_value')}")
            for row in result.tables["filler"]:
                print(f"    filler alone at {row['length']:4d} tokens: {row['label']} {row['confidence']:.3f}")
        else:
            print(f"    past-limit similarity {result.metric('past_limit_similarity').value}, "
                  f"max abs diff {result.metric('past_limit_max_abs_diff').value}")
    summary("long-input suite on the default model (probes)", f"{total:.1f} s")
    print(f"suite total {total:.2f} s wall, {cpu_total:.2f} s CPU over {torch.get_num_threads()} threads "
          f"(load average now {os.getloadavg()[0]:.1f}: on a busy machine wall time overstates the cost)")


def windows(n_texts: int, n_tokens: int) -> None:
    from audit.loading import load
    from probes.long_input import haystack
    from probes.long_input.texts import NEEDLES

    print(f"\n== sliding windows over {n_texts} texts of {n_tokens} tokens: batched vs per-window loop ==")
    batched_model = load("default", progress=False, use_cache=False)
    loop_model = load("default", progress=False, use_cache=False)
    # one filler stream per text (seed i), so that windows are not shared between texts
    texts = [haystack.build(batched_model.engine, [NEEDLES[i % len(NEEDLES)]], [n_tokens], [0.5], i)[0].text for i in range(n_texts)]
    rows, owner = batched_model.engine.shape_long(texts, "window_mean")
    start = time.perf_counter()
    batched = batched_model.embed(texts, strategy="window_mean")
    t_batched = time.perf_counter() - start
    tok = loop_model.tokenizer
    window_texts = [tok.decode(r, skip_special_tokens=True) for r in rows]
    start = time.perf_counter()
    per_window = [loop_model.embed([w])[0] for w in window_texts]
    t_loop = time.perf_counter() - start
    looped = np.stack([np.mean([v for v, o in zip(per_window, owner) if o == i], axis=0) for i in range(len(texts))])
    looped /= np.linalg.norm(looped, axis=1, keepdims=True)
    agree = float(np.min(np.sum(batched * looped, axis=1)))
    print(f"{len(rows)} windows of up to {batched_model.max_length} tokens")
    print(f"batched (engine)     {t_batched:7.2f} s  {batched_model.engine.stats.forward_calls} forward calls")
    print(f"per-window loop      {t_loop:7.2f} s  {loop_model.engine.stats.forward_calls} forward calls")
    print(f"speed-up             {t_loop / t_batched:7.2f}x   (min cosine between the two results {agree:.6f})")
    summary(f"sliding windows ({len(rows)}), batched vs per-window loop", f"{t_batched:.2f} s", f"{t_loop:.2f} s", t_loop / t_batched)


def memory(n_tokens: int = 8192) -> None:
    from audit.loading import load
    from probes.long_input import haystack

    print(f"\n== peak memory for one {n_tokens}-token input (window_mean) ==")
    model = load("default", progress=False, use_cache=False)
    text = haystack.build(model.engine, ["It was good."], [n_tokens], [0.5], 0)[0].text
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    model.class_probs([text], strategy="window_mean")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"token budget {model.engine.token_budget}; {model.engine.stats.forward_calls} forward calls, "
          f"{model.engine.stats.tokens} tokens in {time.perf_counter() - start:.2f} s")
    print(f"peak RSS {before:.0f} MiB before, {after:.0f} MiB after (+{after - before:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=2048)
    args = parser.parse_args()
    from audit.loading import load

    start = time.perf_counter()
    model = load("default", progress=False, use_cache=False)
    print(f"model loaded in {time.perf_counter() - start:.2f} s")
    suite(model)
    windows(args.texts, args.tokens)
    memory()


if __name__ == "__main__":
    main()
