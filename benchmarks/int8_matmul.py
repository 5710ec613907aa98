"""Which int8 matrix product is fastest here, at the shapes of transformer_tiny beam decoding.

Usage:
    python benchmarks/int8_matmul.py [--rows 640] [--vocab 9800] [--seconds 0.1] [--rounds 7] [--only NAME ...]

Candidates, each y = x W^T + b with W quantized per output channel (int8, one scale a row):
  fp32            F.linear on the float weights (the reference)
  fbgemm/onednn   torch.ops.quantized.linear_dynamic on weights prepacked once (the engine named),
                  activations quantized per tensor inside the kernel (reduce_range on x86)
  int_mm          torch._int_mm on activations quantized per row in Python, rescaled afterwards
  weight_only     torch._weight_int8pack_mm: int8 weights, float activations
Prints the fastest milliseconds per call over rounds taken in turns (so other processes' load
falls on every candidate alike) and the error against fp32 relative to the output's RMS.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402


def per_row_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


def candidates(weight: torch.Tensor, bias: torch.Tensor) -> dict:
    q, scale = per_row_int8(weight)
    out: dict = {"fp32": lambda x: F.linear(x, weight, bias)}
    for engine in ("fbgemm", "onednn", "x86"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        zero = torch.zeros_like(scale, dtype=torch.long)
        qt = torch._make_per_channel_quantized_tensor(q, scale.double(), zero, 0)
        try:
            packed = torch.ops.quantized.linear_prepack(qt, bias)
        except RuntimeError as error:
            print(f"  {engine}: prepack failed ({str(error).splitlines()[0][:80]})")
            continue
        for reduce_range in (True, False):
            name = f"{engine}{'/7bit' if reduce_range else '/8bit'}"
            out[name] = lambda x, p=packed, r=reduce_range: torch.ops.quantized.linear_dynamic(x, p, r)
    torch.backends.quantized.engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else "none"
    qt_t = q.t().contiguous()

    def int_mm(x: torch.Tensor) -> torch.Tensor:
        xs = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
        xq = torch.round(x / xs).to(torch.int8)
        return torch.addcmul(bias, torch._int_mm(xq, qt_t), xs * scale)

    out["int_mm"] = int_mm
    out["weight_only"] = lambda x: torch._weight_int8pack_mm(x, q, scale) + bias
    return out


def calibrated(fn, x: torch.Tensor, budget: float) -> int:
    """How many calls take about `budget` seconds."""
    fn(x)
    start = time.perf_counter()
    fn(x)
    return max(1, int(budget / max(time.perf_counter() - start, 1e-6)))


def timings(fns: dict, x: torch.Tensor, budget: float, rounds: int) -> dict[str, float]:
    """Fastest milliseconds per call of each candidate over `rounds` rounds taken in turns.

    In turns, so every candidate meets the same load from other processes; the fastest round
    estimates the speed without them.
    """
    calls = {name: calibrated(fn, x, budget) for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn(x)
            best[name] = min(best[name], (time.perf_counter() - start) / calls[name] * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=640, help="batch * beam")
    parser.add_argument("--vocab", type=int, default=9800)
    parser.add_argument("--seconds", type=float, default=0.1, help="time per round and candidate")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="candidates to time (default: all)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, rows {args.rows}")
    torch.manual_seed(0)
    shapes = [(128, 384), (128, 128), (128, 256), (256, 128), (128, args.vocab)]
    for k, n in shapes:
        weight = torch.randn(n, k) * k**-0.5
        bias = torch.randn(n) * 0.1
        x = torch.randn(args.rows, k)
        reference = F.linear(x, weight, bias)
        rms = reference.pow(2).mean().sqrt()
        fns = {name: fn for name, fn in candidates(weight, bias).items() if not args.only or name in args.only}
        errors = {name: float((fn(x) - reference).pow(2).mean().sqrt() / rms) for name, fn in fns.items()}
        print(f"{k} -> {n}:")
        for name, ms in timings(fns, x, args.seconds, args.rounds).items():
            print(f"  {name:12s} {ms:8.3f} ms   relative error {errors[name]:.4f}")


if __name__ == "__main__":
    main()
