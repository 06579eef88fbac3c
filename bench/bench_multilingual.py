"""Benchmark of the multilingual suite on the packaged default model (all-MiniLM-L6-v2).

Prints the time of each step and, as a peer in the same run, the batched tokenisation the tokenizer probe
uses against a per-word loop of tokenizer calls, as a ratio. Then the figures the suite measured.

    python bench/bench_multilingual.py            # everything (about a minute on 2 CPU cores)
    python bench/bench_multilingual.py --loop-words 5000
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from summary import summary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loop-words", type=int, default=20000, help="words for the per-word loop peer")
    args = ap.parse_args()
    import torch

    from audit.loading import load
    from probes.multilingual import coverage, languages, segment
    from probes.multilingual.consistency import ConsistencyProbe
    from probes.multilingual.retrieval import RetrievalProbe
    from probes.multilingual.tokenizer import TokenizerCoverageProbe

    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}")
    t, c = time.perf_counter(), time.process_time()
    reg = languages.registry()
    t_registry, c_registry = time.perf_counter() - t, time.process_time() - c

    model = load("default", progress=False, use_cache=False)
    tok = model.tokenizer

    # peer: one batched call over distinct words against a loop of one tokenizer call per word
    words = sorted({w for lang in reg.values() if lang.sample for w in segment.units(lang.sample)[1]})
    sample = words[:: max(1, len(words) // args.loop_words)][: args.loop_words]
    facts = coverage.inspect_tokenizer(tok)
    t = time.perf_counter()
    batched = coverage.count(facts, sample)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    loop = [len(tok(w, add_special_tokens=False)["input_ids"]) for w in sample]
    t_loop = time.perf_counter() - t
    assert batched.tokens.tolist() == loop, "batched and looped token counts differ"

    timings: dict[str, tuple[float, float]] = {}
    results = {}
    for probe in (TokenizerCoverageProbe(), RetrievalProbe(), ConsistencyProbe()):
        t, c = time.perf_counter(), time.process_time()
        results[probe.name] = probe.run(model)
        timings[probe.name] = (time.perf_counter() - t, time.process_time() - c)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at the end: {load:.1f} (wall time on a shared machine grows with it; CPU time much less)")
    print(f"{'step':45s} {'wall s':>8s} {'CPU s':>8s}")
    print(f"{'registry (gflanguages + CLDR + wordfreq), cold':45s} {t_registry:8.2f} {c_registry:8.2f}")
    for name, (w, c) in timings.items():
        print(f"{name:45s} {w:8.2f} {c:8.2f}")
    print(f"{'whole suite on the default model':45s} {sum(w for w, _ in timings.values()) + t_registry:8.2f} "
          f"{sum(c for _, c in timings.values()) + c_registry:8.2f}")
    print(f"\npeer: {len(sample)} distinct words tokenised one call per word: {t_loop:.2f} s; in one batched call: "
          f"{t_batch:.3f} s; ratio {t_loop / max(t_batch, 1e-9):.1f}x")
    summary(f"tokenizer coverage probe over every language ({len(reg)} in the registry)",
            f"{timings['multilingual.tokenizer'][0]:.1f} s", note="default model")
    summary(f"tokenising {len(sample)} words: one batched call vs one call per word", f"{t_batch:.3f} s", f"{t_loop:.2f} s",
            t_loop / max(t_batch, 1e-9))

    tokr = results["multilingual.tokenizer"]
    rows = tokr.tables["languages"]
    ok = [r for r in rows if r["status"] == "ok"]
    print(f"\nlanguages in the registry: {len(reg)}; with enough text: {len(ok)}; scripts: {len({r['script'] for r in ok})}")
    print("headline:", tokr.headline)
    valid = [r for r in ok if r["premium"] is not None and r["parallel_items"] >= 10 and r["premium_unk"] <= 0.5]
    print("highest premiums:", ", ".join(f"{r['name']} {r['premium']:.2f}" for r in sorted(valid, key=lambda r: -r["premium"])[:8]))
    unk = sorted((r for r in ok if r["unk_rate"] > 0.5), key=lambda r: -r["speakers"])
    print(f"mostly [UNK] ({len(unk)}), most spoken:", ", ".join(f"{r['name']} {r['unk_rate']:.2f}" for r in unk[:8]))
    for name in ("multilingual.retrieval", "multilingual.consistency"):
        print(f"{name}: {results[name].headline}")
        for m in results[name].metrics[:4]:
            ci = f" [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else ""
            print(f"  {m.key}: {m.value:.3f}{ci} (n={m.n})")
    print("engine:", model.engine.stats.as_dict())


if __name__ == "__main__":
    main()
