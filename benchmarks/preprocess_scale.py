"""Peak memory and speed of `nmt preprocess` as the corpus grows: memory should stay flat.

Usage: python benchmarks/preprocess_scale.py [--data DIR] [--lines 100000 1000000] [--workers N]
       [--merges M] [--code DIR]

For each size, writes a monolingual English corpus of that many lines (Multi30k's train.en
repeated), then preprocesses it in a fresh process (`-s en --trainpref CORPUS`: Moses, M BPE
merges, dictionary, binarization) and prints lines/s and the peak resident memory of the main
process and of its largest worker process (getrusage: ru_maxrss of the process and of its
waited-for children). --code runs another checkout (e.g. an older commit exported with git
archive) on the same corpora, for comparison.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]


def write_corpus(source: Path, path: Path, lines: int) -> None:
    """`lines` lines of `source` (plain or .gz), repeated as often as needed."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as handle:
        text = handle.read().splitlines(keepends=True)
    with open(path, "w", encoding="utf-8") as out:
        full, rest = divmod(lines, len(text))
        block = "".join(text)
        for _ in range(full):
            out.write(block)
        out.write("".join(text[:rest]))


def child(args: argparse.Namespace) -> None:
    """One preprocessing run in this (fresh) process; prints its figures as one JSON line."""
    import resource

    sys.path.insert(0, str(Path(args.code).resolve()))
    from toolkit.data.preprocess import PreprocessConfig, preprocess

    corpus = Path(args.child)
    config = PreprocessConfig(
        source_lang="en",
        trainpref=str(corpus.with_suffix("")),
        destdir=str(corpus.parent / "data-bin"),
        tokenize="moses",
        bpe="subword-nmt",
        bpe_merges=args.merges,
        workers=args.workers,
        quiet=True,
    )
    start = time.perf_counter()
    stats = preprocess(config)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = {"seconds": seconds, "main_kib": own, "worker_kib": workers, "timings": stats.get("timings", {})}
    figures["sentences"] = stats["splits"]["train"]["en"]["sentences"]
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = (REPO / ".." / "shared" / "data" / "multi30k").resolve()
    parser.add_argument("--data", default=str(default), help="the Multi30k directory (train.en.gz)")
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--merges", type=int, default=10000)
    parser.add_argument("--code", default=str(REPO), help="the checkout to run (default: this one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    source = Path(args.data) / "train.en.gz"
    if not source.is_file():
        sys.exit(f"Multi30k English not found: {source}")

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, Python {platform.python_version()}")
    print(
        f"command: nmt preprocess --source-lang en --trainpref CORPUS --tokenize moses --bpe subword-nmt "
        f"--bpe-merges {args.merges} --workers {args.workers}  (CORPUS: {source.name} repeated to N lines; "
        f"code: {args.code})"
    )
    print(f"{'lines':>10} {'seconds':>8} {'lines/s':>8} {'main MiB':>9} {'worker MiB':>11}  stages (s)")
    for lines in args.lines:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus.en"
            write_corpus(source, corpus, lines)
            argv = [sys.executable, __file__, "--child", str(corpus), "--workers", str(args.workers)]
            argv += ["--merges", str(args.merges), "--code", args.code]
            run = subprocess.run(argv, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"preprocessing {lines} lines failed:\n{run.stderr[-2000:]}")
        f = json.loads(run.stdout.strip().splitlines()[-1])
        assert f["sentences"] == lines, f
        stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in f["timings"].items())
        print(
            f"{lines:>10} {f['seconds']:>8.1f} {lines / f['seconds']:>8.0f} {f['main_kib'] / 1024:>9.0f} "
            f"{f['worker_kib'] / 1024:>11.0f}  {stages}",
            flush=True,
        )


if __name__ == "__main__":
    main()
