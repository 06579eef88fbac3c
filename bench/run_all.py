"""One command for every benchmark: each runs in its own process, in turn, and prints its table.

    python bench/run_all.py                 # CPU figures as in the README (about 15 minutes on 2 cores)
    python bench/run_all.py --device cuda   # where a GPU is available
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    ("engine vs transformers.pipeline vs per-example loop", ["bench_engine.py"], True),
    ("bias suite, engine vs per-example loop", ["bench_bias.py"], True),
    ("multilingual suite, batched vs per-word tokenisation", ["bench_multilingual.py"], False),
    ("long-input suite, batched vs per-window loop", ["bench_long_input.py"], False),
    ("batched IG vs one text per call; explaining telling cases", ["bench_explain.py", "--n", "16", "--cases", "16"], False),
    ("20,000-case load and peak memory", ["bench_load.py"], False),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default=None, help="passed to the benchmarks that take it")
    args = ap.parse_args()
    failed = 0
    for title, argv, takes_device in BENCHES:
        cmd = [sys.executable, str(HERE / argv[0]), *argv[1:]]
        if args.device and takes_device:
            cmd += ["--device", args.device]
        print(f"\n## {title}\n$ {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        failed += subprocess.run(cmd).returncode != 0
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
