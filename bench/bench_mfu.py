"""Achieved FLOP/s and model FLOP utilisation (MFU) of a bert-base-size encoder, as the audit engine runs it.

The model is loaded through audit.loading.load (SDPA attention, bf16 on a GPU by default) with random weights,
and a fixed batch (default 128 × 128 tokens on a GPU) goes through forward passes in the engine's own
inference_mode + autocast. FLOPs are counted by torch.utils.flop_counter on one forward (matrix multiplies
and attention), and checked against the closed form 2 · (non-embedding parameters) · tokens + attention.
MFU = achieved FLOP/s / the device's dense peak for the dtype (a table of known GPUs; --peak-tflops
otherwise). ``--compile`` also times torch.compile(model) so the table shows whether it pays.

    python bench/bench_mfu.py --device cuda            # batch 128, seq 128, bf16
    python bench/bench_mfu.py --device cpu --batch 8   # CPU: FLOP/s only (no peak known)
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from bench_engine import build_model
from summary import summary

PEAK_TFLOPS = {  # dense tensor-core peak, bf16/fp16, no sparsity (vendor datasheets)
    "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4, "H200": 989.4, "GH200": 989.4,
    "A100": 312.0, "A10G": 70.0, "L4": 121.0, "L40S": 362.0,
}


def peak_for(name: str) -> float | None:
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # the most specific name first
        if key in name:
            return PEAK_TFLOPS[key] * 1e12
    return None


def count_flops(model: torch.nn.Module, batch: dict[str, torch.Tensor], autocast) -> int:  # type: ignore[no-untyped-def]
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode(), autocast():
        model(**batch)
    return int(counter.get_total_flops())


def closed_form(config, batch: int, seq: int) -> int:  # type: ignore[no-untyped-def]
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_layer = 2 * (4 * h * h + 2 * h * inter) * batch * seq + 2 * 2 * batch * seq * seq * h  # linears + QKᵀ and AV
    return layers * per_layer + 2 * h * h * batch  # + the pooler


def time_forward(model, batch, autocast, iters: int, sync) -> float:  # type: ignore[no-untyped-def]
    with torch.inference_mode(), autocast():
        for _ in range(3):  # warm-up: kernels, allocator, compilation
            model(**batch)
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            model(**batch)
        sync()
    return (time.perf_counter() - start) / iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", help="auto = bf16 on a GPU, fp32 on a CPU")
    ap.add_argument("--batch", type=int, default=None, help="default 128 on a GPU, 8 on a CPU")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--iters", type=int, default=None, help="default 50 on a GPU, 3 on a CPU")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's dense peak for the dtype")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
    args = ap.parse_args()

    from audit.loading import load

    m = load(build_model("base", tempfile.mkdtemp()), progress=False, use_cache=False, device=args.device, dtype=args.dtype)
    dev = m.engine.device
    gpu = dev.type == "cuda"
    batch_size = args.batch or (128 if gpu else 8)
    iters = args.iters or (50 if gpu else 3)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    name = torch.cuda.get_device_name(dev) if gpu else f"CPU, {torch.get_num_threads()} threads"
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, m.tokenizer.vocab_size, (batch_size, args.seq), generator=g)
    batch = {"input_ids": ids.to(dev), "attention_mask": torch.ones_like(ids).to(dev)}
    model = m.model.eval()

    counted = count_flops(model, batch, m.engine.autocast)
    flops = closed_form(model.config, batch_size, args.seq)
    print(f"{name}; bert-base ({sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters), dtype {m.info.dtype}, "
          f"batch {batch_size} × {args.seq} tokens, torch {torch.__version__}")
    print(f"FLOPs per forward: {flops / 1e9:.1f} G (closed form); torch's flop counter sees {counted / 1e9:.1f} G "
          f"({counted / flops:.3f} of it)")
    peak = args.peak_tflops * 1e12 if args.peak_tflops else (peak_for(name) if gpu else None)
    rows = [("eager (the engine's path)", time_forward(model, batch, m.engine.autocast, iters, sync))]
    if args.compile:
        compiled = torch.compile(model)
        start = time.perf_counter()
        time_forward(compiled, batch, m.engine.autocast, 1, sync)
        print(f"torch.compile warm-up (compilation): {time.perf_counter() - start:.1f} s")
        rows.append(("torch.compile", time_forward(compiled, batch, m.engine.autocast, iters, sync)))
    print("| path | ms / forward | tokens/s | TFLOP/s | MFU |")
    print("|---|---:|---:|---:|---:|")
    for label, sec in rows:
        achieved = flops / sec
        mfu = f"{achieved / peak:.1%}" if peak else "n/a (peak unknown: --peak-tflops)"
        print(f"| {label} | {sec * 1e3:.1f} | {batch_size * args.seq / sec:,.0f} | {achieved / 1e12:.2f} | {mfu} |")
    eager = rows[0][1]
    summary(f"bert-base forward, batch {batch_size} × {args.seq}, {m.info.dtype}", f"{flops / eager / 1e12:.2f} TFLOP/s",
            note=f"{name}; MFU {flops / eager / peak:.1%}" if peak else f"{name}; MFU n/a (no peak for this device)")
    if len(rows) > 1:
        summary("torch.compile vs eager (bert-base forward)", f"{rows[1][1] * 1e3:.1f} ms", f"eager {eager * 1e3:.1f} ms",
                eager / rows[1][1], note=name)


if __name__ == "__main__":
    main()
