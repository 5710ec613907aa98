"""Beam-search translation speed: sentences/s of `nmt generate`, fp32 and bf16, and wall time with loading.

Usage:
    python benchmarks/generate_speed.py DATA_DIR CHECKPOINT [--subset test] [--beam 5] [--batch-size 128]

Runs the real command (`python -m cli generate ... --quiet`) once per precision, so the figures
include everything a user waits for; the generator's own line gives the search-only throughput.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _machine import cpu_name, runnable_precisions  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("checkpoint")
    parser.add_argument("--subset", default="test")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--extra", default="", help="more flags for nmt generate, e.g. --cpu")
    parser.add_argument("--profile", action="store_true", help="profile the search in-process (fp32 or bf16)")
    args = parser.parse_args()
    if args.profile:
        profile(args)
        return
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}")
    print(f"config: {args.checkpoint} on {args.data} [{args.subset}], beam {args.beam}, batch size {args.batch_size}")
    on_gpu = "--cpu" not in args.extra.split() and _cuda_available()
    for precision in runnable_precisions(args.precision, "cuda" if on_gpu else "cpu"):
        command = [
            sys.executable,
            "-m",
            "cli",
            "generate",
            args.data,
            "--path",
            args.checkpoint,
            "--gen-subset",
            args.subset,
            "--beam",
            str(args.beam),
            "--batch-size",
            str(args.batch_size),
            "--quiet",
            *args.extra.split(),
        ]
        if precision == "bf16":
            command.append("--bf16")
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode:
            print(result.stderr, file=sys.stderr)
            sys.exit(result.returncode)
        summary = result.stdout + result.stderr
        speed = re.search(r"(\d+) sentences, (\d+) tokens in ([\d.]+)s \(([\d.]+) sentences/s", summary)
        bleu = re.search(r"BLEU\|[^=]*= ([\d.]+)", summary)
        search = (
            f"{float(speed.group(4)):.0f} sentences/s ({speed.group(1)} sentences in {speed.group(3)} s)"
            if speed
            else "?"
        )
        print(
            f"{precision:5s} search: {search}; wall with loading: {wall:.1f} s; BLEU {bleu.group(1) if bleu else '?'}",
            flush=True,
        )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def profile(args: argparse.Namespace) -> None:
    """Where the search spends its time: the top operators by self CPU time, per precision."""
    import io

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    sys.path.insert(0, str(REPO))
    from toolkit.search.config import SearchConfig
    from toolkit.search.subset import GenerateConfig, generate_subset

    for precision in args.precision:
        cfg = GenerateConfig(
            data=args.data,
            path=args.checkpoint,
            search=SearchConfig(beam=args.beam),
            gen_subset=args.subset,
            batch_size=args.batch_size,
            bf16=precision == "bf16",
            quiet=True,
        )
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            summary = generate_subset(cfg, out=io.StringIO())
        print(f"== {precision}: {summary}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
