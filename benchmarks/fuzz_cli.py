"""Hostile input through translate, score and preprocess, many thousands of times: never a crash.

Usage:
    python benchmarks/fuzz_cli.py --cases 10000 [--seed 1] [--cli-every 100] [--checkpoint CKPT]

Each case is one seeded hostile text (random bytes, invalid UTF-8, control and bidi characters,
zero-width and combining characters, 100k-token lines, empty and whitespace-only lines, very many
short lines, mixtures of these) sent to one target, in turn: `translate` (one output line per input
line), `score` (a score, or one UserError line when the line counts differ) and `preprocess`
(a destination whose splits have one sentence per input line, or one UserError line). Cases run
in process (fast); every --cli-every-th case also runs through the real command line, which must
exit with 0 or 2, print no traceback and give the right number of lines. A failure prints the case
(seed, number, target, the input's first bytes) so it can become a regular test. The run is
reproducible from --seed, and each case alone from --seed S --case N (the failing input is also
saved as fail-N.bin in the work directory). Exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ["ein", "Hund", "läuft", "schnell", "die", "Katze", "a", "dog", "runs", "fast", "cat", ".", ","]
SPECIAL = (
    "\u202e\u202d\u2066\u2067\u2068\u2069\u200e\u200f"  # bidi overrides, isolates, marks
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters and the byte-order mark
    "\u0301\u0308\u0327\u20dd"  # combining marks
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029"  # control characters and odd line breaks
    "\t \u00a0\u3000"
)
TARGETS = ("translate", "score", "preprocess")


def hostile_lines(rng: random.Random) -> bytes:
    """One hostile input file, as bytes."""
    # The two costly kinds (a 100k-token line, thousands of lines) are rarer, so 10,000 cases fit in minutes.
    kind = rng.choices(range(9), weights=(10, 10, 10, 1, 10, 2, 10, 10, 10))[0]
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    if kind == 1:  # valid text with invalid UTF-8 sequences spliced in
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20))).encode()
        bad = rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"])
        cut = rng.randint(0, len(text))
        return text[:cut] + bad + text[cut:] + b"\n"
    if kind == 2:
        lines = [
            "".join(rng.choice(SPECIAL + "ab") for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(1, 8))
        ]
    elif kind == 3:  # a 100k-token line among ordinary ones
        lines = [" ".join(rng.choice(WORDS) for _ in range(100_000)), "ein Hund ."]
    elif kind == 4:
        lines = [rng.choice(["", " ", "\t", "  \t ", "\u00a0", "\u3000"]) for _ in range(rng.randint(1, 10))]
    elif kind == 5:  # very many short lines
        lines = [rng.choice(WORDS) for _ in range(rng.randint(1000, 3000))]
    elif kind == 6:  # words with marks and zero-width characters inside
        lines = [
            " ".join(rng.choice(WORDS) + rng.choice(SPECIAL) * rng.randint(0, 2) for _ in range(rng.randint(0, 12)))
            for _ in range(rng.randint(1, 6))
        ]
    elif kind == 7:  # any code point
        lines = ["".join(chr(rng.randrange(0x20, 0x10FFFF)) for _ in range(rng.randint(0, 25))).replace("\n", " ")
                 for _ in range(rng.randint(1, 5))]  # fmt: skip
        return "\n".join(lines).encode("utf-8", errors="surrogatepass") + b"\n"
    else:  # ordinary text, no final newline or CRLF line ends
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 10))) for _ in range(rng.randint(1, 6))]
        end = rng.choice(["", "\r\n"])
        return end.join(lines).encode() if end else "\n".join(lines).encode()
    return "".join(line + "\n" for line in lines).encode()


def input_lines(data: bytes) -> list[str]:
    """The lines nmt reads from these bytes (UTF-8 with U+FFFD for invalid bytes, split on \\n only)."""
    text = data.decode("utf-8", errors="replace")
    if not text:
        return []  # an empty file has no line (as `wc -l` counts)
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


class Fuzzer:
    def __init__(self, checkpoint: Path, work: Path, seed: int) -> None:
        from toolkit.search.config import SearchConfig
        from toolkit.search.interactive import TranslateConfig, Translator

        self.work, self.seed, self.checkpoint = work, seed, checkpoint
        self.translator = Translator(TranslateConfig(path=str(checkpoint), search=SearchConfig(beam=1, max_len_b=4)))
        self.counts: Counter = Counter()
        self.seconds: Counter = Counter()
        self.failures: list[str] = []

    def fail(self, number: int, target: str, data: bytes, what: str) -> None:
        self.counts["failures"] += 1
        saved = self.work / f"fail-{number}.bin"
        saved.write_bytes(data)
        case = (
            f"case {number} (rerun: --seed {self.seed} --case {number}) {target}: {what}; input {data[:80]!r} "
            f"({len(data)} bytes, all of it in {saved})"
        )
        self.failures.append(case)
        print(f"FAILED {case}")

    # --- in process -------------------------------------------------------------------------------
    def translate(self, data: bytes) -> str | None:
        lines = [line.rstrip("\r") for line in input_lines(data)]
        outputs = []
        for start in range(0, len(lines), 32):
            outputs += self.translator.translate_block(lines[start : start + 32])
        if len(outputs) != len(lines) or any("\n" in o for o in outputs):
            self.counts["wrong line counts"] += 1
            return f"{len(outputs)} output lines for {len(lines)} input lines"
        return None

    def score(self, data: bytes, rng: random.Random) -> str | None:
        from toolkit.errors import UserError
        from toolkit.scoring import ScoreConfig
        from toolkit.scoring.report import score_files

        sys_file, ref_file = self.work / "sys.txt", self.work / "ref.txt"
        sys_file.write_bytes(data)
        same_count = rng.random() < 0.8
        ref_lines = input_lines(data) if same_count else input_lines(data) + ["extra"]
        ref_file.write_text("".join(f"ref {i} .\n" for i in range(len(ref_lines))), encoding="utf-8")
        try:
            report = score_files(sys_file, ref_file, ScoreConfig(metrics=["bleu", "chrf"]))
        except UserError as error:  # unequal counts, empty files, undecodable bytes: one line, as documented
            self.counts["user errors"] += 1
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if same_count and input_lines(data):
                return f"valid UTF-8 with equal line counts was refused: {error}"
            return None
        if not same_count:
            return "different line counts were scored"
        if report["sentences"] != len(input_lines(data)):
            self.counts["wrong line counts"] += 1
            return f"{report['sentences']} sentences scored for {len(input_lines(data))} lines"
        return None

    def preprocess(self, data: bytes, number: int, rng: random.Random) -> str | None:
        from toolkit.data.indexed import MMapIndexedDataset
        from toolkit.data.preprocess import PreprocessConfig, preprocess
        from toolkit.errors import UserError

        raw = self.work / f"raw{number}"
        raw.mkdir()
        other = " ".join(rng.choice(WORDS) for _ in range(5))
        (raw / "train.de").write_bytes(data)
        (raw / "train.en").write_text("".join(f"{other}\n" for _ in input_lines(data)), encoding="utf-8")
        dest = self.work / f"bin{number}"
        errors = rng.choice(["strict", "replace"])
        config = PreprocessConfig(source_lang="de", target_lang="en", trainpref=str(raw / "train"), destdir=str(dest),
                                  bpe_merges=20, workers=1, quiet=True, encoding_errors=errors)  # fmt: skip
        try:
            preprocess(config)
        except UserError:
            self.counts["user errors"] += 1
            return "a half-written destination" if dest.exists() else None
        finally:
            shutil.rmtree(raw, ignore_errors=True)
        sentences = len(MMapIndexedDataset(dest / "train.de-en.de"))
        shutil.rmtree(dest, ignore_errors=True)
        if sentences != len(input_lines(data)):
            self.counts["wrong line counts"] += 1
            return f"{sentences} sentences binarized from {len(input_lines(data))} lines"
        return None

    # --- through the command line -------------------------------------------------------------------
    def cli(self, target: str, data: bytes, number: int) -> str | None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        path = self.work / f"cli{number}.txt"
        path.write_bytes(data)
        if target == "translate":
            argv = [
                "translate",
                "--path",
                str(self.checkpoint),
                "--beam",
                "2",
                "--max-len-b",
                "5",
                "--input",
                str(path),
            ]
        elif target == "score":
            ref = self.work / f"cli{number}.ref"
            ref.write_text("".join(f"r {i}\n" for i in range(len(input_lines(data)))), encoding="utf-8")
            argv = ["score", "--sys", str(path), "--ref", str(ref)]
        else:
            other = self.work / f"cli{number}"
            other.mkdir()
            (other / "train.de").write_bytes(data)
            (other / "train.en").write_text("".join("a b\n" for _ in input_lines(data)), encoding="utf-8")
            argv = ["preprocess", "-s", "de", "-t", "en", "--trainpref", str(other / "train"), "--destdir",
                    str(other / "bin"), "--bpe-merges", "20", "--workers", "1", "--quiet"]  # fmt: skip
        try:
            result = subprocess.run([sys.executable, "-m", "cli", *argv], capture_output=True, env=env, timeout=600)
        except subprocess.TimeoutExpired:
            return "the command hung (10 minutes)"
        stderr = result.stderr.decode("utf-8", errors="replace")
        self.counts["cli runs"] += 1
        if "Traceback" in stderr:
            self.counts["tracebacks"] += 1
            return f"traceback through the CLI: {stderr[-300:]}"
        if result.returncode not in (0, 2):
            self.counts["bad exit codes"] += 1
            return f"exit code {result.returncode}"
        if result.returncode == 2 and len(stderr.strip().splitlines()) != 1:
            return f"the error is not one line: {stderr[-300:]}"
        if target == "translate" and result.returncode == 0:
            produced = result.stdout.decode("utf-8", errors="replace").count("\n")
            expected = len(input_lines(data))
            if produced != expected:
                self.counts["wrong line counts"] += 1
                return f"{produced} output lines for {expected} input lines"
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cli-every", type=int, default=100, help="also run every N-th case through the CLI")
    parser.add_argument("--checkpoint", help="a checkpoint with recorded preprocessing (default: make a tiny one)")
    parser.add_argument("--case", type=int, help="run only this case number (to reproduce a failure)")
    args = parser.parse_args()
    import torch
    from _machine import cpu_name

    torch.set_num_threads(1)
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    work = Path(tempfile.mkdtemp(prefix="nmt-fuzz-"))
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if checkpoint is None:
        from tests.helpers.pipeline import tiny_checkpoint

        (work / "model").mkdir()
        checkpoint = tiny_checkpoint(work / "model")
    fuzzer = Fuzzer(checkpoint, work, args.seed)
    start = time.perf_counter()
    cases = [args.case] if args.case is not None else range(args.cases)
    for number in cases:
        rng = random.Random(f"{args.seed}-{number}")  # each case reproducible alone: --seed S --case N
        target = TARGETS[number % len(TARGETS)]
        data = hostile_lines(rng)
        fuzzer.counts[target] += 1
        began = time.perf_counter()
        try:
            if target == "translate":
                problem = fuzzer.translate(data)
            elif target == "score":
                problem = fuzzer.score(data, rng)
            else:
                problem = fuzzer.preprocess(data, number, rng)
        except (Exception, SystemExit):  # noqa: BLE001  (anything else, sys.exit included, is a crash)
            fuzzer.counts["crashes"] += 1
            problem = "crash: " + traceback.format_exc(limit=3).strip().splitlines()[-1]
        fuzzer.seconds[target] += time.perf_counter() - began
        if problem:
            fuzzer.fail(number, target, data, problem)
        if args.cli_every and number % args.cli_every == 0:
            problem = fuzzer.cli(target, data, number)
            if problem:
                fuzzer.fail(number, f"{target} (CLI)", data, problem)
        if (number + 1) % 1000 == 0:
            print(f"{number + 1} cases, {time.perf_counter() - start:.0f} s, {fuzzer.counts['failures']} failures")
    c = fuzzer.counts
    print(f"fuzz_cli: {len(cases)} hostile inputs (translate {c['translate']}, score {c['score']}, preprocess "
          f"{c['preprocess']}; {c['cli runs']} also through the CLI) in {time.perf_counter() - start:.0f} s: "
          f"{c['crashes']} crashes, {c['tracebacks']} tracebacks, {c['wrong line counts']} wrong line counts, "
          f"{c['bad exit codes']} exit codes other than 0/2, {c['user errors']} one-line refusals "
          f"(in-process seconds: {', '.join(f'{t} {fuzzer.seconds[t]:.0f}' for t in TARGETS)}); "
          f"{'all checks passed' if not fuzzer.failures else str(len(fuzzer.failures)) + ' FAILED'}")  # fmt: skip
    sys.exit(1 if fuzzer.failures else 0)


if __name__ == "__main__":
    main()
