"""Start-up time of the command line: `nmt --help`, `nmt train --help` and `nmt translate` on one line.

Usage:
    python benchmarks/cli_startup.py [--checkpoint CKPT] [--runs 7]

Each command runs as a fresh process (as a user types it) `--runs` times; the median wall time is
printed. Without --checkpoint a tiny one is made first (tiny preprocess + 2 updates). The CLI should
import only what the subcommand needs: `nmt --help` never imports torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]


def _median_seconds(argv: list[str], runs: int, stdin: str | None = None) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cli", *argv], input=stdin, capture_output=True, text=True, env=env, check=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a trained checkpoint (default: make a tiny one)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import torch

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    checkpoint = args.checkpoint
    if checkpoint is None:
        sys.path.insert(0, str(REPO))
        from tests.helpers.pipeline import tiny_checkpoint

        checkpoint = str(tiny_checkpoint(Path(tempfile.mkdtemp(prefix="nmt-startup-"))))
    rows = [
        ("nmt --help", ["--help"], None),
        ("nmt train --help", ["train", "--help"], None),
        ("nmt translate (one line)", ["translate", "--path", checkpoint, "--beam", "5"], "ein Hund läuft .\n"),
    ]
    print(f"median wall seconds of {args.runs} fresh processes:")
    for name, argv, stdin in rows:
        print(f"  {name:<26} {_median_seconds(argv, args.runs, stdin):.3f} s")
    probe = "import sys; from cli.main import main; main(['--help']); print(sorted(m for m in ('torch', 'numpy', 'rich', 'sacremoses') if m in sys.modules))"  # noqa: E501
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    print(f"heavy modules imported by nmt --help: {loaded.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
