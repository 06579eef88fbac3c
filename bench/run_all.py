"""One command for every benchmark: each runs in its own process, in turn, prints its own table, and the
headline figures and ratios of all of them are gathered into one table at the end.

    python bench/run_all.py                 # CPU figures as in the README (about 10 minutes on 2 cores)
    python bench/run_all.py --device cuda   # where a GPU is available (engine, bias, MFU and audit take it)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from summary import PREFIX  # noqa: E402

BENCHES = [
    ("engine vs transformers.pipeline vs per-example loop", ["bench_engine.py"], True),
    ("bias suite, engine vs per-example loop", ["bench_bias.py"], True),
    ("multilingual suite, batched vs per-word tokenisation", ["bench_multilingual.py"], False),
    ("long-input suite, batched vs per-window loop", ["bench_long_input.py"], False),
    ("batched IG vs one text per call; explaining telling cases", ["bench_explain.py", "--n", "16", "--cases", "64"], False),
    ("whole default audit, cold and from the cache", ["bench_audit.py"], True),
    ("bounded tiny-MLM audit, dry run vs real run, first forward pass", ["bench_cost.py"], True),
    ("bert-base FLOP/s and MFU; torch.compile against eager", ["bench_mfu.py", "--compile"], True),
    ("20,000-case load and peak memory", ["bench_load.py"], False),
]


def run(cmd: list[str]) -> tuple[int, list[dict]]:
    """Stream the benchmark's output through, keeping its SUMMARY lines aside."""
    rows = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(PREFIX):
            rows.append(json.loads(line[len(PREFIX):]))
        else:
            print(line, end="", flush=True)
    return proc.wait(), rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="passed to the benchmarks that take it")
    ap.add_argument("--only", nargs="*", default=None, help="run only these scripts (e.g. bench_engine.py)")
    args = ap.parse_args()
    import torch

    failed: list[str] = []
    table: list[dict] = []
    for title, argv, takes_device in BENCHES:
        if args.only and argv[0] not in args.only:
            continue
        cmd = [sys.executable, str(HERE / argv[0]), *argv[1:]]
        if args.device and takes_device:
            cmd += ["--device", args.device]
        print(f"\n## {title}\n$ python {' '.join(str(Path(c).relative_to(HERE.parent)) if c.startswith(str(HERE)) else c for c in cmd[1:])}",
              flush=True)
        start = time.perf_counter()
        code, rows = run(cmd)
        if code:
            failed.append(argv[0])
        table += rows
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"\n## Summary — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}")
    print("| what | transformer-audit | peer / baseline | ratio | notes |")
    print("|---|---|---|---:|---|")
    for r in table:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else ""
        print(f"| {r['what']} | {r['ours']} | {r['peer']} | {ratio} | {r['note']} |")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
