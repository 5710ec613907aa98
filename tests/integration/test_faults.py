"""What real machines do to long jobs: kill -9, torn checkpoint writes, corrupt files, a full disk, Ctrl-C.

Each training run here is a tiny Transformer on generated copy data with one thread, so a
resumed run is bit-for-bit the uninterrupted one and the comparisons can be exact.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import REPO, nmt
from tests.helpers.synthetic import TINY_MODEL_FLAGS, make_task_dir
from toolkit.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
PLUGIN = REPO / "tests" / "helpers" / "fault_plugin.py"
UPDATES = 400
KILLS = 5


def _train_args(data: Path, save_dir: Path, *extra: str) -> list[str]:
    return [
        "train", str(data), "--arch", "transformer_tiny", *TINY_MODEL_FLAGS, "--dropout", "0.1",
        "--max-tokens", "256", "--max-update", str(UPDATES), "--save-interval-updates", "4",
        "--lr", "0.002", "--warmup-updates", "5", "--seed", "5", "--threads", "1",
        "--save-dir", str(save_dir), "--log-format", "simple", "--keep-interval-updates", "2", *extra,
    ]  # fmt: skip


def _popen(args: list[str], env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_like_a_terminal,
    )


def _like_a_terminal() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python then never turns Ctrl-C
    # into KeyboardInterrupt; give the child the disposition it has when run from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=0, rtol=0, msg=f"{name} differs")


def _all_checkpoints_readable(save_dir: Path) -> int:
    """Every checkpoint file present loads (atomic writes: never a truncated .pt); returns how many."""
    paths = sorted(save_dir.glob("checkpoint*.pt"))
    for path in paths:
        load_checkpoint(path)
    return len(paths)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("faults") / "data", "copy", n_train=600, n_valid=40)


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> tuple[Path, float]:
    """The reference run's final checkpoint, and how long the whole command took."""
    save_dir = tmp_path_factory.mktemp("reference")
    start = time.perf_counter()
    result = nmt(*_train_args(data, save_dir), threads=1)
    assert result.returncode == 0, result.stderr
    return save_dir / "checkpoint_last.pt", time.perf_counter() - start


@pytest.fixture(scope="module")
def reference(uninterrupted) -> Path:
    return uninterrupted[0]


def test_kill_9_at_random_points_then_resume_equals_uninterrupted(data, uninterrupted, tmp_path):
    reference, seconds = uninterrupted
    rng = random.Random(20261121)
    kills, checked = 0, 0
    for _ in range(KILLS):
        process = _popen(_train_args(data, tmp_path))
        try:
            # Anywhere from start-up (~2 s) to the middle of the run; each resume continues from its
            # last complete checkpoint.
            process.wait(timeout=rng.uniform(0.3, 0.6) * seconds)
            break  # finished before its kill
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            checked += _all_checkpoints_readable(tmp_path)
    result = nmt(*_train_args(data, tmp_path), threads=1)  # the last rerun goes to the end
    assert result.returncode == 0, result.stderr
    print(f"{kills} kill -9 injections, {checked} checkpoint files verified readable")
    assert kills >= 2, "the kill schedule should interrupt the run several times"
    _assert_same_weights(tmp_path / "checkpoint_last.pt", reference)
    assert not list(tmp_path.glob(".*.tmp")), "a stale temporary checkpoint was left behind"


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(data, reference, tmp_path):
    torn = _popen(_train_args(data, tmp_path, "--user-dir", str(PLUGIN)), {"NMT_TEST_FAULT": "kill-during-save:3"})
    torn.wait(timeout=600)
    assert torn.returncode == -signal.SIGKILL
    last = load_checkpoint(tmp_path / "checkpoint_last.pt")  # the previous write, intact
    assert last["trainer_state"]["trainer"]["num_updates"] == 8
    _all_checkpoints_readable(tmp_path)
    result = nmt(*_train_args(data, tmp_path), threads=1)
    assert result.returncode == 0, result.stderr
    _assert_same_weights(tmp_path / "checkpoint_last.pt", reference)
    assert not list(tmp_path.glob(".*.tmp")), "the torn temporary file was not cleaned up on resume"


def test_disk_full_while_saving_reports_and_keeps_the_previous_checkpoint(data, tmp_path):
    env = {"NMT_TEST_FAULT": "enospc-on-save:2"}
    process = _popen(_train_args(data, tmp_path, "--user-dir", str(PLUGIN)), env)
    _, stderr = process.communicate(timeout=600)
    stderr = stderr.decode()
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert "No space left on device" in stderr and "checkpoint_last.pt" in stderr
    assert load_checkpoint(tmp_path / "checkpoint_last.pt")["trainer_state"]["trainer"]["num_updates"] == 4


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_checkpoint_is_named_by_every_command(data, reference, tmp_path, damage):
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        content = reference.read_bytes()
        bad.write_bytes(content[: len(content) // 3])
    else:
        bad.write_bytes(os.urandom(4096))
    commands = {
        "train --restore-file": _train_args(data, tmp_path / "run", "--restore-file", str(bad)),
        "generate": ["generate", str(data), "--path", str(bad), "--gen-subset", "valid"],
        "average-checkpoints": ["average-checkpoints", "--inputs", str(bad), str(reference), "--output",
                                str(tmp_path / "avg.pt")],
    }  # fmt: skip
    for name, args in commands.items():
        result = nmt(*args, threads=1)
        assert result.returncode == 2, f"{name}: {result.stderr}"
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, name
        assert str(bad) in result.stderr, f"{name} does not name the file: {result.stderr}"
    assert not (tmp_path / "avg.pt").exists()


def test_ctrl_c_during_generate_leaves_no_results_file(data, reference, tmp_path):
    results = tmp_path / "results"
    # Forced long outputs keep the search busy long enough to be interrupted.
    args = ["generate", str(data), "--path", str(reference), "--gen-subset", "train", "--beam", "8",
            "--min-len", "150", "--max-len-b", "200", "--results-path", str(results)]  # fmt: skip
    process = _popen(args)
    time.sleep(4.0)
    assert process.poll() is None, "generation finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert not (results / "generate-train.txt").exists()
    assert not list(results.glob(".*.tmp")) if results.exists() else True


def test_disk_full_while_writing_a_dataset_leaves_no_destination(tmp_path, capsys, monkeypatch):
    import errno

    from tests.helpers.cli import nmt_in_process
    from toolkit.data import indexed

    for lang, words in (("de", "ein Hund läuft ."), ("en", "a dog runs .")):
        (tmp_path / f"train.{lang}").write_text(f"{words}\n" * 20, encoding="utf-8")

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(indexed.IndexedDatasetBuilder, "finalize", full_disk)
    dest = tmp_path / "bin"
    code, err = nmt_in_process(
        ["preprocess", "-s", "de", "-t", "en", "--trainpref", str(tmp_path / "train"), "--destdir", str(dest),
         "--bpe-merges", "5", "--workers", "1", "--quiet"], capsys,
    )  # fmt: skip
    assert code == 2, err
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1, err
    assert not dest.exists() and not list(tmp_path.glob(".bin*")), "a half-written dataset was left behind"
