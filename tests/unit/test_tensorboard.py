"""TensorBoard mirroring: the event files hold exactly the logged numbers at step = update."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers.synthetic import make_task_dir
from tests.helpers.training import tiny_setup
from toolkit.errors import UserError
from toolkit.train.loop import TrainingRun, train
from toolkit.train.progress import ProgressReporter

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] read back from every event file under logdir."""
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def train_record(update: int) -> dict:
    return {
        "type": "train",
        "epoch": 1,
        "update": update,
        "loss": 6.0 - update,
        "nll_loss": 5.5 - update,
        "ppl": 2.0 ** (5.5 - update),
        "wps": 1000.0 * update,
        "ups": 3.0,
        "lr": 0.0005 * update,
        "gnorm": 0.25 * update,
    }


def test_reporter_writes_train_and_valid_scalars(tmp_path):
    reporter = ProgressReporter("none", 1, None, tmp_path / "tb")
    reporter.begin_epoch(1, 3, 0)
    for update in (1, 2, 3):
        reporter.update(train_record(update))
    reporter.end_epoch()
    reporter.event({"type": "valid", "epoch": 1, "update": 3, "loss": 2.5, "nll_loss": 2.25, "ppl": 4.75, "bleu": 17.5})
    reporter.event({"type": "checkpoint", "update": 3, "loss": 99.0})  # not a train/valid record: no scalar
    reporter.close()
    got = scalars(tmp_path / "tb")
    assert set(got) == {
        "train/loss",
        "train/nll_loss",
        "train/ppl",
        "train/lr",
        "train/gnorm",
        "train/wps",
        "valid/loss",
        "valid/nll_loss",
        "valid/ppl",
        "valid/bleu",
    }
    for key in ("loss", "nll_loss", "ppl", "lr", "gnorm", "wps"):
        expected = [(u, train_record(u)[key]) for u in (1, 2, 3)]
        assert [step for step, _ in got[f"train/{key}"]] == [1, 2, 3]
        assert [v for _, v in got[f"train/{key}"]] == pytest.approx([v for _, v in expected], rel=1e-6)
    assert got["valid/loss"] == [(3, 2.5)]
    assert got["valid/nll_loss"] == [(3, 2.25)]
    assert got["valid/ppl"] == [(3, 4.75)]
    assert got["valid/bleu"] == [(3, 17.5)]


def test_training_run_mirrors_its_log(tmp_path):
    data = make_task_dir(tmp_path / "data", n_train=24, n_valid=8)
    setup = tiny_setup(
        data, save_dir=str(tmp_path / "ckpt"), max_epoch=2, log_format="none", tensorboard_logdir=str(tmp_path / "tb")
    )
    train(setup)
    log = [json.loads(line) for line in (tmp_path / "ckpt" / "train_log.jsonl").read_text().splitlines()]
    got = scalars(tmp_path / "tb")
    for kind in ("train", "valid"):
        records = [r for r in log if r["type"] == kind]
        assert records, f"no {kind} records"
        assert [step for step, _ in got[f"{kind}/loss"]] == [r["update"] for r in records]
        assert [v for _, v in got[f"{kind}/loss"]] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    assert [v for _, v in got["train/lr"]] == pytest.approx([r["lr"] for r in log if r["type"] == "train"])


def test_missing_tensorboard_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.raises(UserError) as error:
        ProgressReporter("none", 1, None, tmp_path / "tb")
    assert str(error.value) == ("--tensorboard-logdir needs the tensorboard package: pip install 'nmt[tensorboard]'")
    assert not (tmp_path / "tb").exists()


def test_missing_tensorboard_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    setup = tiny_setup(tmp_path / "no-data-needed", save_dir=str(tmp_path / "ckpt"), tensorboard_logdir="tb")
    with pytest.raises(UserError, match="needs the tensorboard package"):
        train(setup)  # the data dir does not exist: the tensorboard check came first


# --- the reporter's other new options ---------------------------------------------------


def test_tqdm_is_progress_and_no_progress_bar_means_simple(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal: "auto" would draw a bar
    assert ProgressReporter("tqdm", 1, None).format == "progress"
    assert ProgressReporter("auto", 1, None).format == "progress"
    data = make_task_dir(tmp_path / "data", n_train=8, n_valid=4)
    run = TrainingRun(tiny_setup(data, save_dir=str(tmp_path / "ckpt"), no_progress_bar=True))
    assert run.reporter.format == "simple"
    assert run.reporter.tensorboard is None
    run.reporter.close()
