"""The whole default audit, cold and then served from the cache: wall time, peak memory, identical results.

Each run is `audit run` in its own process (as a user runs it) with a fresh cache folder for the cold run;
peak RSS is that process's own maximum resident set. The re-run must give the same results.json (minus
timings and throughput), or the benchmark fails.

    python bench/bench_audit.py [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import summary

# Runs the CLI and prints this process's peak RSS (MiB) to stderr, whatever the exit code.
WRAPPER = """
import resource, sys
from audit.cli import main
try:
    code = main(sys.argv[1:])
finally:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_MIB {kib / 1024:.0f}", file=sys.stderr)
sys.exit(code)
"""
VOLATILE = {"timings", "throughput", "seconds", "command", "sequences_per_s", "tokens_per_s"}


def stable(obj):  # type: ignore[no-untyped-def]
    if isinstance(obj, dict):
        return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [stable(v) for v in obj]
    return obj


def run(args: list[str], cache: Path) -> tuple[float, float, dict]:
    env = {**os.environ, "TRANSFORMER_AUDIT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, "run", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1 = a gate failed, which is a finding, not an error
        sys.exit(f"audit run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    peak = float(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_MIB")))
    out = Path(args[args.index("--out") + 1])
    return wall, peak, json.loads((out / "results.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        args = ["--out", str(out)] + (["--device", a.device] if a.device else [])
        cold_wall, cold_peak, cold = run(args, cache)
        warm_wall, warm_peak, warm = run(args, cache)
    if stable(cold) != stable(warm):
        sys.exit("the re-run from the cache gave different results")
    ct, wt = cold["timings"], warm["timings"]
    device = cold["model"]["device"]
    print(f"default audit on {device}: {len(cold['probes'])} probes, {len(cold.get('explanations', []))} explained cases")
    print("| run | wall s | in-process total s | probes s | explanations s | peak RSS MiB | forward passes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, wall, peak, r in (("cold (empty cache)", cold_wall, cold_peak, cold), ("re-run from the cache", warm_wall, warm_peak, warm)):
        t = r["timings"]
        probes = sum(v for k, v in t.items() if k not in ("load", "explain", "total"))
        print(f"| {name} | {wall:.1f} | {t['total']:.1f} | {probes:.1f} | {t['explain']:.1f} | {peak:.0f} | "
              f"{r['throughput']['forward_calls']} |")
    print(f"re-run served {warm['throughput']['cache_hits']} outputs and {warm['throughput'].get('explanations_cached', 0)} "
          f"explanations from the cache; results identical to the cold run (timings aside)")
    print(f"re-run {warm_wall:.2f} s vs cold {cold_wall:.2f} s: {cold_wall / warm_wall:.2f}× faster (goal ≥ 8×: "
          f"{'met' if cold_wall / warm_wall >= 8 else 'not met'})")
    summary("whole default audit, cold", f"{cold_wall:.1f} s, peak RSS {cold_peak:.0f} MiB", note=f"{device}, `audit run` in a fresh process")
    summary("re-run of the same audit from the cache", f"{warm_wall:.1f} s", f"cold {cold_wall:.1f} s", cold_wall / warm_wall,
            note=f"identical results; in-process {ct['total']:.1f} → {wt['total']:.1f} s")


if __name__ == "__main__":
    main()
