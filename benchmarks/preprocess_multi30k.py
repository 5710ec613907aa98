"""Time `nmt preprocess` on Multi30k de-en (29000 + 1014 + 1000 pairs, 10000 joint merges).

Usage: python benchmarks/preprocess_multi30k.py [--data DIR] [--workers N] [--repeat K]
Prints the configuration, the machine, wall time per stage and in total, peak memory and
the test split's unknown-token rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.data.preprocess import PreprocessConfig, preprocess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"
    parser.add_argument("--data", default=str(default.resolve()))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--merges", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    raw = Path(args.data)
    if not (raw / "train.de.gz").exists() and not (raw / "train.de").exists():
        sys.exit(f"Multi30k not found under {raw}")

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, Python {platform.python_version()}")
    print(
        f"command: nmt preprocess --source-lang de --target-lang en --trainpref {raw}/train "
        f"--validpref {raw}/val --testpref {raw}/test_2016_flickr --destdir DEST --tokenize moses "
        f"--bpe subword-nmt --bpe-merges {args.merges} --joined-dictionary --workers {args.workers}"
    )
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            config = PreprocessConfig(
                source_lang="de",
                target_lang="en",
                trainpref=f"{raw}/train",
                validpref=[f"{raw}/val"],
                testpref=[f"{raw}/test_2016_flickr"],
                destdir=f"{tmp}/m30k.de-en",
                tokenize="moses",
                bpe="subword-nmt",
                bpe_merges=args.merges,
                joined_dictionary=True,
                workers=args.workers,
                quiet=True,
            )
            start = time.perf_counter()
            stats = preprocess(config)
            total = time.perf_counter() - start
        stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in stats["timings"].items())
        print(f"run {run + 1}: total {total:.2f}s ({stages}; the rest: reading and checking inputs, writing)")
    sizes = {lang: s["sentences"] for split in stats["splits"].values() for lang, s in split.items()}
    print(
        "sentences: "
        + ", ".join(f"{k} {len(v) and list(v.values())[0]['sentences']}" for k, v in stats["splits"].items())
        + f" ({len(sizes)} languages)"
    )
    print(f"dictionary size: {stats['dictionaries']['de']['size']} (joined)")
    test = stats["splits"]["test"]
    print("test <unk> rate: " + ", ".join(f"{lang} {100 * s['unk_rate']:.3f}%" for lang, s in test.items()))
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "cli", "preprocess", "--source-lang", "de", "--target-lang", "en"]
        argv += ["--trainpref", f"{raw}/train", "--validpref", f"{raw}/val", "--testpref", f"{raw}/test_2016_flickr"]
        argv += ["--destdir", f"{tmp}/d", "--bpe-merges", str(args.merges), "--joined-dictionary"]
        argv += ["--workers", str(args.workers), "--quiet"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parents[1])
        print(f"end to end through the CLI (process start and imports included): {time.perf_counter() - start:.2f}s")
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS: main process {self_kb / 1024:.0f} MiB, largest child process {child_kb / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
