"""Load: a 20,000-case custom suite on the default model, on a 2-core CPU, with bounded memory.

A user-written suite is a config whose probe takes the user's texts: here robustness.perturbation with
5,000 generated review sentences x 4 meaning-preserving edits = 20,000 cases (25,000 model inputs with
the unedited texts). Each size runs as a real ``python -m audit run`` child process with a fresh on-disk
cache; peak memory is the child's maximum resident set size (``os.wait4``). The peer is the same suite at
a tenth of the size in the same run: bounded memory means the peak barely grows with 10x the cases.

    python bench/bench_load.py                      # 20,000 cases against 2,000
    python bench/bench_load.py --cases 4000 --small 400
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import summary

REPO = Path(__file__).resolve().parents[1]
EDITS = 4
SUBJECTS = ("the room", "the food", "the film", "this phone", "the train", "our guide", "the app", "the soup",
            "the concert", "the museum", "the battery", "the printer", "the library", "the service", "the flight")
VERDICTS = ("was wonderful", "was far too slow", "worked perfectly", "broke after a week", "felt a bit dull",
            "exceeded every expectation", "was cold and salty", "arrived damaged", "made my day", "was fine")
TAILS = ("and the staff were friendly.", "but nobody answered my call.", "so I would come back.",
         "and the price was fair.", "though the queue was long.", "and I told all my friends.")


def review_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct review sentences (our own wording), numbered so that none repeats."""
    rng = random.Random(seed)
    return [f"Review {i}: {rng.choice(SUBJECTS)} {rng.choice(VERDICTS)} {rng.choice(TAILS)}".capitalize() for i in range(n)]


def run_suite(cases: int, workdir: Path) -> dict[str, float]:
    """One audit of ``cases`` cases in a child process: wall time, peak RSS, cache and results sizes."""
    texts = review_texts(cases // EDITS)
    cfg = workdir / "suite.yaml"
    cfg.write_text("model: default\nprobes:\n  robustness.perturbation:\n"
                   f"    texts: {json.dumps(texts)}\nexplain: false\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "audit", "run", "--config", str(cfg), "--out", str(workdir / "out"), "--quiet",
           "--cache-dir", str(workdir / "cache")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    stderr = child.stderr.read().decode() if child.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"the {cases}-case audit failed (exit {code}): {stderr.strip()}")
    results = json.loads((workdir / "out" / "results.json").read_text())
    probe = results["probes"][0]
    assert all(m["n"] == len(texts) for m in probe["metrics"]), "not every text was measured"
    return {
        "cases": len(texts) * EDITS,
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "sequences": results["throughput"]["sequences"],
        "cache_hits": results["throughput"]["cache_hits"],
        "model_s": results["throughput"]["seconds"],
        "cache_mib": (workdir / "cache" / "outputs.sqlite").stat().st_size / 2**20,
        "results_mib": (workdir / "out" / "results.json").stat().st_size / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=2_000, help="the peer: the same suite, smaller")
    args = parser.parse_args()
    rows = []
    for cases in (args.small, args.cases):
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            rows.append(run_suite(cases, Path(tmp)))
    print(f"{'cases':>7} {'wall s':>8} {'cases/s':>8} {'model s':>8} {'peak RSS MiB':>13} {'sequences':>10} "
          f"{'cache hits':>10} {'cache MiB':>9} {'results MiB':>11}")
    for r in rows:
        print(f"{r['cases']:>7} {r['wall_s']:>8.1f} {r['cases'] / r['wall_s']:>8.1f} {r['model_s']:>8.1f} "
              f"{r['peak_rss_mib']:>13.0f} {r['sequences']:>10} {r['cache_hits']:>10} {r['cache_mib']:>9.1f} "
              f"{r['results_mib']:>11.2f}")
    small, large = rows
    print(f"ratios large/small: cases {large['cases'] / small['cases']:.1f}x, wall {large['wall_s'] / small['wall_s']:.2f}x, "
          f"peak RSS {large['peak_rss_mib'] / small['peak_rss_mib']:.2f}x")
    summary(f"custom suite of {large['cases']:,} cases", f"{large['wall_s']:.0f} s, peak RSS {large['peak_rss_mib']:.0f} MiB",
            f"{small['cases']:,} cases: {small['wall_s']:.0f} s, {small['peak_rss_mib']:.0f} MiB",
            note=f"{large['cases'] / small['cases']:.0f}× the cases: {large['wall_s'] / small['wall_s']:.1f}× the time, "
                 f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f}× the memory")


if __name__ == "__main__":
    main()
