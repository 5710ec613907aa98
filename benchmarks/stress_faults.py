"""Many kills at random moments: training, preprocessing and generation survive them, with figures.

Usage:
    python benchmarks/stress_faults.py [DATA] --kills 20 [--seed 1] [--updates 400]

Training (a tiny Transformer, one thread, so a resumed run is bit-for-bit the uninterrupted one):
`nmt train` is stopped --kills times at random updates, resumed after each by rerunning the same
command. Most stops are SIGKILL; --in-write-share of them are timed inside a checkpoint write
(through tests/helpers/fault_plugin.py, which tears the file and kills the process half-way), and
some are SIGTERM or Ctrl-C (SIGINT), which must save and exit with code 130. After every stop each
checkpoint file on disk must load; after the last resume no temporary file may be left and the
final parameters must equal an uninterrupted run's. The largest loss of work (updates redone after
a resume) is printed beside the checkpoint interval. Without DATA a copy task is generated.

Then `nmt preprocess` (on a raw corpus this script writes) and `nmt generate --results-path` are
killed at random moments: the destination or results file must be complete (equal to an
uninterrupted run's) or absent, and the rerun must complete it with nothing temporary left.

Prints one line per stop and a summary line; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PLUGIN = REPO / "tests" / "helpers" / "fault_plugin.py"
TINY = (
    "--encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 "
    "--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2 --decoder-attention-heads 2"
)


@dataclass
class Tally:
    failures: list[str] = field(default_factory=list)
    stops: dict[str, int] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
            print(f"  FAILED: {what}")
        return ok


def _env(extra: dict | None = None) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(extra or {})}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as from a terminal, also when this script runs in the background


def _train_args(data: Path, save_dir: Path, updates: int, interval: int) -> list[str]:
    return [
        "train", str(data), "--arch", "transformer_tiny", *TINY.split(), "--dropout", "0.1", "--max-tokens", "256",
        "--max-update", str(updates), "--save-interval-updates", str(interval), "--keep-interval-updates", "2",
        "--lr", "0.002", "--warmup-updates", "5", "--seed", "5", "--threads", "1", "--save-dir", str(save_dir),
        "--log-format", "json", "--log-interval", "1",
    ]  # fmt: skip


def _checkpoint_updates(path: Path) -> int:
    from toolkit.train.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["trainer_state"]["trainer"]["num_updates"]) if path.exists() else 0


def _all_load(save_dir: Path) -> tuple[int, list[str]]:
    from toolkit.train.checkpoint import load_checkpoint

    bad = []
    paths = sorted(save_dir.glob("checkpoint*.pt"))
    for path in paths:
        try:
            load_checkpoint(path)
        except Exception as error:  # noqa: BLE001  (whatever breaks a load is an unreadable checkpoint)
            bad.append(f"{path.name}: {error}")
    return len(paths), bad


def _run_until(args: list[str], target_update: int, sig: int, env: dict) -> tuple[int, int]:
    """Start training, send `sig` once update `target_update` is logged; (last update seen, return code)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    seen, sent = 0, False
    watchdog = threading.Timer(600, process.kill)  # a child that ignores its signal must not hang the run
    watchdog.start()
    for line in process.stdout:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "train":
            seen = max(seen, int(record["update"]))
            if not sent and seen >= target_update and sig:
                process.send_signal(sig)
                sent = True
    code = process.wait()
    watchdog.cancel()
    return seen, code


def stress_training(data: Path, work: Path, kills: int, updates: int, interval: int, share: float, rng, tally) -> None:
    reference_dir, stressed = work / "reference", work / "stressed"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *_train_args(data, reference_dir, updates, interval)],
                   env=_env(), capture_output=True, check=True)  # fmt: skip
    print(f"uninterrupted run: {updates} updates in {time.perf_counter() - start:.1f} s")
    args = _train_args(data, stressed, updates, interval)
    targets = sorted(rng.sample(range(2, updates - 1), kills))
    # At least one SIGTERM and one Ctrl-C; --in-write-share of the stops inside a write; the rest SIGKILL.
    graceful = max(1, kills // 10) if kills >= 3 else 0
    writes = min(kills - 2 * graceful, round(share * kills))
    kinds = ["SIGTERM"] * graceful + ["SIGINT"] * graceful + ["kill-in-write"] * writes
    kinds += ["SIGKILL"] * (kills - len(kinds))
    rng.shuffle(kinds)
    in_write, largest_redo, checked = 0, 0, 0
    for number, (target, kind) in enumerate(zip(targets, kinds, strict=True), 1):
        before = _checkpoint_updates(stressed / "checkpoint_last.pt")
        target = max(target, before + 1)
        if kind == "kill-in-write":  # the plugin tears the N-th checkpoint write and kills the process
            saves = max(1, (target - before) // interval)
            env = _env({"NMT_TEST_FAULT": f"kill-during-save:{rng.randint(1, saves)}"})
            seen, code = _run_until([*args, "--user-dir", str(PLUGIN)], updates + 1, 0, env)
            in_write += int(code == -signal.SIGKILL)
            expected = -signal.SIGKILL
        else:
            sig = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}[kind]
            seen, code = _run_until(args, target, sig, _env())
            expected = 130 if sig != signal.SIGKILL else -signal.SIGKILL
        finished = code == 0 and seen >= updates
        tally.stops[kind] = tally.stops.get(kind, 0) + (0 if finished else 1)
        after = _checkpoint_updates(stressed / "checkpoint_last.pt")
        redo = max(0, seen - after)
        largest_redo = max(largest_redo, redo)
        count, bad = _all_load(stressed)
        checked += count
        print(f"stop {number:2d}: {kind:<13} at update {seen:4d}, exit {code}, resumes from {after:4d} "
              f"(redo {redo}), {count} checkpoint files load")  # fmt: skip
        tally.check(not bad, f"unreadable checkpoint after stop {number}: {bad}")
        tally.check(not finished, f"stop {number} ({kind}) never happened: the run finished first")
        tally.check(redo <= interval, f"stop {number} lost {redo} updates, more than the interval {interval}")
        tally.check(finished or code == expected, f"stop {number} ({kind}) exited {code}, expected {expected}")
        if kind in ("SIGTERM", "SIGINT") and not finished:
            tally.check(after == seen, f"stop {number} ({kind}) did not save its last update ({after} < {seen})")
    subprocess.run([sys.executable, "-m", "cli", *args], env=_env(), capture_output=True, check=True)
    leftovers = [p.name for p in stressed.glob(".*.tmp")]
    tally.check(not leftovers, f"temporary files left after the final resume: {leftovers}")
    same = _same_weights(stressed / "checkpoint_last.pt", reference_dir / "checkpoint_last.pt")
    tally.check(same, "final parameters differ from the uninterrupted run's")
    total = sum(tally.stops.values())
    tally.check(total == kills, f"{total} stops happened, {kills} were planned")
    tally.check(in_write == writes, f"{in_write} kills landed inside a checkpoint write, {writes} were planned")
    print(f"training: {total} stops ({', '.join(f'{n} {k}' for k, n in sorted(tally.stops.items()))}), "
          f"{in_write} timed inside a checkpoint write, {checked} checkpoint loads verified; largest loss of work "
          f"{largest_redo} updates against a checkpoint interval of {interval}; final parameters "
          f"{'equal' if same else 'DIFFER from'} the uninterrupted run's")  # fmt: skip


def _same_weights(a: Path, b: Path) -> bool:
    import torch

    from toolkit.train.checkpoint import load_checkpoint

    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _raw_corpus(root: Path, lines: int, rng: random.Random) -> Path:
    words = "ein zwei Hund Katze läuft schnell über die Straße im Garten a two dog cat runs fast the street".split()
    root.mkdir(parents=True, exist_ok=True)
    rows = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + " ." for _ in range(lines)]
    for lang in ("de", "en"):
        (root / f"train.{lang}").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return root / "train"


def _same_tree(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names if n != "preprocess.json")


def _kill_at_random(argv: list[str], seconds: float, rng, writing: Callable[[], bool] | None = None) -> int:
    """Kill at a random moment, or (with `writing`) as soon as the output's temporary appears."""
    process = subprocess.Popen([sys.executable, "-m", "cli", *argv], env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.perf_counter() + (3 * seconds if writing else rng.uniform(0.2, 1.0) * seconds)
    while process.poll() is None and time.perf_counter() < deadline:
        if writing is not None and writing():
            time.sleep(rng.uniform(0.0, 0.05))
            break
        time.sleep(0.002 if writing else 0.02)
    if process.poll() is not None:
        return process.returncode
    process.kill()
    process.wait()
    return -signal.SIGKILL


def stress_outputs(work: Path, data: Path, kills: int, rng, tally) -> dict[str, int]:
    """Kill preprocess and generate --results-path; each output is complete or absent."""
    prefix = _raw_corpus(work / "raw", 6000, rng)
    pre = ["preprocess", "-s", "de", "-t", "en", "--trainpref", str(prefix), "--bpe-merges", "200", "--workers", "2",
           "--quiet", "--destdir"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *pre, str(work / "pre-ref")], env=_env(), check=True)
    seconds = time.perf_counter() - start
    checkpoint = work / "reference" / "checkpoint_last.pt"
    gen = ["generate", str(data), "--path", str(checkpoint), "--gen-subset", "train", "--beam", "4",
           "--min-len", "20", "--max-len-b", "30", "--results-path"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *gen, str(work / "gen-ref")], env=_env(), check=True,
                   capture_output=True)  # fmt: skip
    gen_seconds = time.perf_counter() - start
    reference_results = (work / "gen-ref" / "generate-train.txt").read_text(encoding="utf-8")
    body = lambda text: [x for x in text.splitlines() if not x.startswith("Generate ")]  # noqa: E731  (speed lines vary)
    killed = {"preprocess": 0, "generate": 0}
    mid_write = {"preprocess": 0, "generate": 0}  # kills that left a temporary behind: landed mid-write
    failures_before = len(tally.failures)
    for number in range(kills):
        dest, results = work / f"pre-{number}", work / f"gen-{number}"
        # Every other kill waits for the destination's temporary directory: a kill in the middle of the write.
        in_write = (lambda n=number: bool(list(work.glob(f".pre-{n}.*.tmp")))) if number % 2 else None
        if _kill_at_random([*pre, str(dest)], seconds, rng, in_write) != 0:
            killed["preprocess"] += 1
            mid_write["preprocess"] += bool(list(work.glob(f".pre-{number}.*.tmp")))
        tally.check(
            not dest.exists() or _same_tree(dest, work / "pre-ref"), f"preprocess {number}: a partial destination"
        )
        subprocess.run([sys.executable, "-m", "cli", *pre, str(dest)], env=_env(), check=True)
        tally.check(_same_tree(dest, work / "pre-ref"), f"preprocess {number}: the rerun differs")
        tally.check(not list(work.glob(f".pre-{number}.*.tmp")), f"preprocess {number}: temporary directory left")
        in_write = (lambda r=results: r.exists() and bool(list(r.glob(".*.tmp")))) if number % 2 else None
        if _kill_at_random([*gen, str(results)], gen_seconds, rng, in_write) != 0:
            killed["generate"] += 1
            mid_write["generate"] += bool(results.exists() and list(results.glob(".*.tmp")))
        out = results / "generate-train.txt"
        tally.check(not out.exists() or body(out.read_text(encoding="utf-8")) == body(reference_results),
                    f"generate {number}: a partial results file")  # fmt: skip
        subprocess.run([sys.executable, "-m", "cli", *gen, str(results)], env=_env(), check=True, capture_output=True)
        tally.check(
            body(out.read_text(encoding="utf-8")) == body(reference_results), f"generate {number}: rerun differs"
        )
        tally.check(not list(results.glob(".*.tmp")), f"generate {number}: temporary file left")
    verdict = (
        "every destination and results file complete or absent, reruns equal, nothing temporary left"
        if len(tally.failures) == failures_before
        else f"{len(tally.failures) - failures_before} FAILED checks"
    )
    print(
        f"outputs: preprocess killed {killed['preprocess']} of {kills} times ({mid_write['preprocess']} while "
        f"writing its destination), generate --results-path killed {killed['generate']} of {kills} "
        f"({mid_write['generate']} while writing its results); {verdict}"
    )
    return killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", help="a data directory (default: a generated copy task)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--output-kills", type=int, default=None, help="kills of preprocess and of generate each")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--interval", type=int, default=8, help="--save-interval-updates of the run")
    parser.add_argument("--in-write-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", help="default: a fresh temporary directory")
    args = parser.parse_args()
    import torch
    from _machine import cpu_name

    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, vector unit {torch.backends.cpu.get_cpu_capability()}")
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="nmt-stress-"))
    data = Path(args.data) if args.data else None
    if data is None:
        from tests.helpers.synthetic import make_task_dir

        data = make_task_dir(work / "data", "copy", n_train=600, n_valid=40)
    tally = Tally()
    stress_training(data, work, args.kills, args.updates, args.interval, args.in_write_share, rng, tally)
    output_kills = args.output_kills if args.output_kills is not None else max(1, args.kills // 4)
    try:
        killed = stress_outputs(work, data, output_kills, rng, tally)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        tally.check(False, f"a rerun failed: {error}")
        killed = {"preprocess": 0, "generate": 0}
    verdict = "all checks passed" if not tally.failures else f"{len(tally.failures)} FAILED"
    print(
        f"stress_faults: {sum(tally.stops.values())} training stops, {killed['preprocess']} preprocess and "
        f"{killed['generate']} generate kills: {verdict}"
    )
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
