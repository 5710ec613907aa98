"""Resident memory of `nmt train` over a long run: sampled every second, so a user can size a machine.

Usage:
    python benchmarks/train_memory.py DATA --minutes 15 [--save-dir DIR] [-- more nmt train flags]

Runs the real command (a fresh save directory unless --save-dir is given) with the recipe's fp32
configuration by default (`transformer_tiny`, --max-tokens 4096), reads VmRSS from /proc every
second and prints the peak, the resident size at each tenth of the run, and the kernel's own
high-water mark (VmHWM) at the end. Flags after `--` replace the default ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
DEFAULT = (
    "--arch transformer_tiny --dropout 0.1 --lr-scheduler cosine --lr 0.005 --warmup-updates 1000 "
    "--period-updates 3500 --min-lr 1e-5 --label-smoothing 0.1 --max-tokens 4096 --log-interval 100"
)


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process, in MiB (empty once it has exited)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) // 1024
    except OSError:
        pass
    return values


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--save-dir", help="default: a fresh temporary directory")
    args = parser.parse_args(argv)
    import torch

    save_dir = args.save_dir or tempfile.mkdtemp(prefix="nmt-memory-")
    flags = extra or DEFAULT.split()
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    print(f"config: nmt train {args.data} {' '.join(flags)} --stop-time-minutes {args.minutes} --save-dir {save_dir}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "cli", "train", args.data, *flags, "--stop-time-minutes", str(args.minutes)]
    command += ["--save-dir", save_dir, "--log-format", "simple"]
    errors = tempfile.TemporaryFile()  # a file, not a pipe: an hour of warnings must never block the child
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    samples: list[tuple[float, int]] = []
    hwm = 0
    start = time.perf_counter()
    while process.poll() is None:
        status = _status(process.pid)
        if "VmRSS" in status:
            samples.append((time.perf_counter() - start, status["VmRSS"]))
            hwm = max(hwm, status.get("VmHWM", 0))
        time.sleep(1.0)
    if process.returncode != 0 or not samples:
        errors.seek(0)
        print(errors.read().decode(errors="replace")[-2000:], file=sys.stderr)
        sys.exit(process.returncode or 1)
    peak = max(rss for _, rss in samples)
    total = samples[-1][0]
    marks = [next(rss for t, rss in samples if t >= total * k / 10) for k in range(1, 11)]
    print(f"resident MiB at each tenth of the run: {' '.join(map(str, marks))}")
    print(f"peak resident memory: {peak} MiB sampled, {hwm} MiB VmHWM, over {total / 60:.1f} minutes")


if __name__ == "__main__":
    main()
