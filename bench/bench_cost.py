"""Cost the user controls: a bounded audit, the dry run against the real run, and the time to the first forward pass.

Every figure comes from `audit run` in its own process (as a user runs it), with a fresh cache folder:

1. bounded audit: `audit run TINY-MLM --suite long-input --max-cases 30` on a tiny masked LM with 512 positions
   (2 layers); tokens through the model (results.json throughput.tokens) against the budget in force
   (30 × 2,048 per probe), and wall time.
2. dry run against the real run, on that tiny MLM and on the default model: dry-run wall time as a share of the
   real run's, and the estimate's error against the real run's probe time (sum of per-probe seconds).
3. time to the first forward pass of a cold `audit run` (process start to the engine's first batch), against
   the floor of `import torch, transformers` in a fresh process.

    python bench/bench_cost.py [--suite long-input] [--default-suite bias] [--max-cases 30] [--device cpu]
    python bench/bench_cost.py --quick     # a seconds-long smoke run of the script itself (no figures worth keeping)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summary import summary

ROOT = Path(__file__).resolve().parent.parent
FIRST_FORWARD = """
import sys, time
start = float(sys.argv[1])
def mark(stage):
    print(f"STAGE {stage} {time.time() - start:.3f}", file=sys.stderr, flush=True)
mark("interpreter")
from audit import engine
mark("torch")
def first(self, *a, **k):
    mark("first_forward")
    raise SystemExit(0)
engine.Engine._forward = first
from audit import runner
def timed(name, fn):
    def wrapper(*a, **k):
        mark(name + "_start")
        try:
            return fn(*a, **k)
        finally:
            mark(name + "_end")
    return wrapper
runner.load = timed("load", runner.load)
runner.build_probes = timed("probes", runner.build_probes)
from audit.cli import main
mark("cli")
sys.exit(main(sys.argv[2:]))
"""
STAGES = (("interpreter", "interpreter start"), ("torch", "import torch (audit.engine)"), ("cli", "the rest of the CLI's imports"),
          ("load_start", "parse, check the out folder, runner set-up"), ("load_end", "model load (transformers, modeling code, weights)"),
          ("probes_start", "between load and probe set-up"), ("probes_end", "probe classes, parameters, validation"),
          ("first_forward", "first probe up to its first forward pass (inputs, tokenising)"))


def audit(args: list[str], cache: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "TRANSFORMER_AUDIT_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit", "run", *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        sys.exit(f"audit run {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc


def real_and_dry(model: str, select: list[str], tmp: Path, tag: str, device: list[str]) -> dict[str, float]:
    out = tmp / f"out-{tag}"
    dry_wall, dry = audit([model, *select, *device, "--dry-run", "--quiet"], tmp / f"cache-dry-{tag}")
    estimate = float(re.search(r"estimated probe time (\d+(?:\.\d+)?) s", dry.stdout).group(1))
    real_wall, _ = audit([model, *select, *device, "--no-explain", "--quiet", "--out", str(out)], tmp / f"cache-{tag}")
    result = json.loads((out / "results.json").read_text())
    probes = sum(v for k, v in result["timings"].items() if k not in ("load", "explain", "total"))
    return {"dry_wall": dry_wall, "estimate": estimate, "real_wall": real_wall, "probe_s": probes,
            "tokens": result["throughput"]["tokens"], "results": result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="long-input", help="suite of the bounded tiny-MLM audit")
    ap.add_argument("--default-suite", default="bias", help="suite of the default-model dry-run comparison")
    ap.add_argument("--max-cases", type=int, default=30)
    ap.add_argument("--positions", type=int, default=512, help="positions of the tiny masked LM")
    ap.add_argument("--device", default=None)
    ap.add_argument("--quick", action="store_true", help="smoke-test the script: one cheap probe, 64 positions, 2 cases")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from audit import testing
    from audit.budget import TOKENS_PER_CASE

    device = ["--device", a.device] if a.device else []
    if a.quick:
        a.positions, a.max_cases = 64, 2
    tiny_sel = ["--probe", "bias.pronoun_occupation"] if a.quick else ["--suite", a.suite]
    default_sel = ["--probe", "robustness.perturbation"] if a.quick else ["--suite", a.default_suite]
    cases = ["--max-cases", str(a.max_cases)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mlm = str(testing.build("bert-mlm", tmp / "mlm", max_length=a.positions))
        budget = a.max_cases * TOKENS_PER_CASE

        tiny = real_and_dry(mlm, tiny_sel + cases, tmp, "tiny", device)
        per_probe = {p["probe"]: p for p in tiny["results"]["probes"]}
        cut = [n for n, p in per_probe.items() if any(w.startswith("cut to fit the budget") for w in p["warnings"])]
        print(f"1. bounded audit: tiny MLM ({a.positions} positions), {' '.join(tiny_sel + cases)}: "
              f"{tiny['tokens']:,} tokens through the model ({len(per_probe)} probes, budget {budget:,} each; cut: "
              f"{', '.join(cut) or 'none'}), {tiny['real_wall']:.1f} s wall")
        summary(f"bounded tiny-MLM audit ({' '.join(tiny_sel + cases)})", f"{tiny['real_wall']:.1f} s, {tiny['tokens']:,} tokens",
                f"budget {budget:,} tokens per probe", None, note=f"cut: {', '.join(cut) or 'none'}")

        default = real_and_dry("default", default_sel, tmp, "default", device)
        print("2. dry run against the real run")
        print("| model | dry run s | real run s | dry/real | estimate s | real probe s | estimate error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in (("tiny MLM " + " ".join(tiny_sel + cases), tiny), ("default " + " ".join(default_sel), default)):
            err = (r["estimate"] - r["probe_s"]) / max(r["probe_s"], 1e-9)
            print(f"| {name} | {r['dry_wall']:.1f} | {r['real_wall']:.1f} | {r['dry_wall'] / r['real_wall']:.2f} | "
                  f"{r['estimate']:.1f} | {r['probe_s']:.1f} | {err:+.0%} |")
            summary(f"dry run, {name}", f"{r['dry_wall']:.1f} s, estimate {r['estimate']:.1f} s",
                    f"real run {r['real_wall']:.1f} s (probes {r['probe_s']:.1f} s)", r["real_wall"] / r["dry_wall"],
                    note=f"estimate error {err:+.0%}")

        env = {**os.environ, "TRANSFORMER_AUDIT_CACHE": str(tmp / "cache-ff"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", FIRST_FORWARD, str(t0), "run", "default", *default_sel, "--quiet",
                               "--no-explain", "--out", str(tmp / "out-ff"), *device], env=env, capture_output=True,
                              text=True, cwd=ROOT)
        marks = {m.group(1): float(m.group(2)) for m in re.finditer(r"STAGE (\S+) (\S+)", proc.stderr)}
        if "first_forward" not in marks:
            sys.exit(f"no forward pass seen:\n{proc.stderr[-2000:]}")
        first = marks["first_forward"]
        floors = {}
        for name, code in (("plain", "import torch, transformers"),
                           ("modeling", "import torch, transformers.models.bert.modeling_bert")):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            floors[name] = time.perf_counter() - t0
        floor = floors["plain"]
        print(f"3. cold `audit run default {' '.join(default_sel)}`: first forward pass after {first:.2f} s; "
              f"`import torch, transformers` alone takes {floor:.2f} s ({first / floor:.2f}× the floor); with BERT's "
              f"modeling code {floors['modeling']:.2f} s (fresh processes)")
        print("| stage before the first forward pass | s | ends at s |")
        print("|---|---:|---:|")
        previous = 0.0
        for key, words in STAGES:
            if key in marks:
                print(f"| {words} | {marks[key] - previous:.2f} | {marks[key]:.2f} |")
                previous = marks[key]
        summary("time to the first forward pass of a cold audit run", f"{first:.2f} s", f"import torch+transformers {floor:.2f} s",
                floor / first)


if __name__ == "__main__":
    main()
