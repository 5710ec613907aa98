"""Beam-search translation speed: sentences/s of `nmt generate` (fp32, bf16, int8) and of CTranslate2 on the
`nmt export`ed model (ct2-fp32, ct2-int8), with wall time with loading, BLEU and size on disk, in one run.

Usage:
    python benchmarks/generate_speed.py DATA_DIR CHECKPOINT [--subset test] [--beam 5] [--batch-size 128]
        [--precision fp32 bf16 int8 ct2-fp32 ct2-int8]

Runs the real command (`python -m cli generate ... --quiet`) once per precision, so the figures
include everything a user waits for; the generator's own line gives the search-only throughput.
int8 first writes the int8 checkpoint with `nmt quantize` (into a temporary directory; its time and
both sizes on disk are printed) and then generates from it, as a user serving int8 would.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name, runnable_precisions  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
NMT = ("fp32", "bf16", "int8")
CT2 = ("ct2-fp32", "ct2-int8")  # CTranslate2 (pip install 'nmt[ctranslate2]') on the exported model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("checkpoint")
    parser.add_argument("--subset", default="test")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--precision", nargs="+", default=[*NMT, *CT2], choices=[*NMT, *CT2], help="what to measure, in this order"
    )
    parser.add_argument("--extra", default="", help="more flags for nmt generate, e.g. --cpu")
    parser.add_argument("--profile", action="store_true", help="profile the search in-process (fp32, bf16 or int8)")
    args = parser.parse_args()
    if args.profile:
        profile(args)
        return
    import torch

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    print(f"config: {args.checkpoint} on {args.data} [{args.subset}], beam {args.beam}, batch size {args.batch_size}")
    on_gpu = "--cpu" not in args.extra.split() and _cuda_available()
    scratch = tempfile.TemporaryDirectory(prefix="generate_speed.")
    print(f"size on disk: {args.checkpoint} {Path(args.checkpoint).stat().st_size / 2**20:.2f} MiB")
    wanted = [p for p in args.precision if p in NMT]
    runnable = set(runnable_precisions(wanted, "cuda" if on_gpu else "cpu")) if wanted else set()
    for precision in args.precision:
        if precision in CT2:
            ctranslate2_row(precision, args, Path(scratch.name))
            continue
        if precision not in runnable:
            continue
        checkpoint = quantized(args.checkpoint, Path(scratch.name)) if precision == "int8" else args.checkpoint
        command = [
            sys.executable,
            "-m",
            "cli",
            "generate",
            args.data,
            "--path",
            checkpoint,
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


def ctranslate2_row(precision: str, args: argparse.Namespace, scratch: Path) -> None:
    """Export the checkpoint for CTranslate2 (float32 or int8) and measure it with nmt's search settings."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        print(f"{precision}: skipped (pip install 'nmt[ctranslate2]')")
        return
    from _ctranslate2 import export, measure_ctranslate2

    quantization = "int8" if precision == "ct2-int8" else None
    model_dir = export(args.checkpoint, scratch / precision, quantization)
    f = measure_ctranslate2(model_dir, args.checkpoint, args.data, subset=args.subset, beam=args.beam,
                            batch_size=args.batch_size)  # fmt: skip
    print(
        f"{precision:8s} search: {f['sentences_per_second']:.0f} sentences/s ({f['sentences']} sentences in "
        f"{f['search_seconds']:.1f} s); wall with loading: {f['wall_seconds']:.1f} s; BLEU {f['bleu']:.2f}; "
        f"size on disk {f['size_mib']:.2f} MiB",
        flush=True,
    )


def quantized(checkpoint: str, directory: Path) -> str:
    """`nmt quantize CHECKPOINT`: the int8 checkpoint's path; prints its time and both sizes on disk."""
    output = directory / "int8.pt"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cli", "quantize", checkpoint, str(output)], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode:
        print(result.stderr, file=sys.stderr)
        sys.exit(result.returncode)
    print(f"int8  nmt quantize: {time.perf_counter() - start:.1f} s; {result.stdout.strip()}", flush=True)
    return str(output)


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
            quantize="int8" if precision == "int8" else None,
            quiet=True,
        )
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            summary = generate_subset(cfg, out=io.StringIO())
        print(f"== {precision}: {summary}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
