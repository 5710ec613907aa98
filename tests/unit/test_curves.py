"""Training curves: the log reader (resume duplicates, torn lines) and the plot's data equal the log's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.curves import plot_training_curves, read_training_log
from toolkit.errors import UserError
from toolkit.train.progress import ProgressReporter

T0 = 1_700_000_000.0


def train_record(update: int, loss: float, time: float) -> dict:
    return {
        "type": "train",
        "epoch": 1,
        "update": update,
        "loss": loss,
        "nll_loss": loss - 0.1,
        "ppl": 2 ** (loss - 0.1),
        "wps": 1000.0,
        "ups": 2.0,
        "lr": 1e-4 * update,
        "gnorm": 1.5,
        "time": time,
    }


def valid_record(update: int, loss: float, time: float, **extra) -> dict:
    return {
        "type": "valid",
        "epoch": 1,
        "update": update,
        "loss": loss,
        "nll_loss": loss,
        "ppl": 2**loss,
        "time": time,
        **extra,
    }


def write_log(path: Path, records: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def lines_by_label(fig) -> dict[tuple[int, str], tuple[list, list]]:
    """(axes index, label) -> (x data, y data) of every plotted line."""
    return {
        (i, line.get_label()): (list(line.get_xdata()), list(line.get_ydata()))
        for i, ax in enumerate(fig.axes)
        for line in ax.get_lines()
    }


def test_plot_data_equal_the_log_values(tmp_path):
    train = [train_record(u, 8.0 / u, T0 + 360 * u) for u in range(1, 11)]  # one update every 0.1 h
    valid = [valid_record(5, 3.25, T0 + 1800), valid_record(10, 2.5, T0 + 3600)]
    log = write_log(tmp_path / "train_log.jsonl", train[:5] + valid[:1] + train[5:] + valid[1:])
    fig = plot_training_curves(log, tmp_path / "curves.png")
    lines = lines_by_label(fig)
    # Axes order: row-major, (loss by update, loss by hours, lr by update, lr by hours); no BLEU in this log.
    assert len(fig.axes) == 4
    assert lines[(0, "train loss")] == (list(range(1, 11)), [8.0 / u for u in range(1, 11)])
    assert lines[(0, "valid loss")] == ([5, 10], [3.25, 2.5])
    hours, losses = lines[(1, "train loss")]
    assert hours == pytest.approx([0.1 * (u - 1) for u in range(1, 11)])  # hours since the first record
    assert losses == [8.0 / u for u in range(1, 11)]
    assert lines[(1, "valid loss")][0] == pytest.approx([0.5 - 0.1, 1.0 - 0.1])
    assert lines[(2, "learning rate")] == (list(range(1, 11)), pytest.approx([1e-4 * u for u in range(1, 11)]))
    assert "bits" in fig.axes[0].get_ylabel()


def test_bleu_row_appears_only_when_logged(tmp_path):
    records = [train_record(1, 5.0, T0), valid_record(1, 4.0, T0 + 10, bleu=12.5), valid_record(2, 3.0, T0 + 20)]
    fig = plot_training_curves(write_log(tmp_path / "log.jsonl", records), tmp_path / "c.png")
    assert len(fig.axes) == 6  # loss, BLEU, lr rows
    assert lines_by_label(fig)[(2, "valid BLEU")] == ([1], [12.5])  # the record without bleu is not a point


def test_train_only_log_plots_without_valid_lines(tmp_path):
    log = write_log(tmp_path / "train_log.jsonl", [train_record(u, 4.0 - u, T0 + u) for u in range(1, 4)])
    fig = plot_training_curves(log, tmp_path / "curves.png")
    labels = {label for _, label in lines_by_label(fig)}
    assert labels == {"train loss", "learning rate"}
    assert lines_by_label(fig)[(0, "train loss")] == ([1, 2, 3], [3.0, 2.0, 1.0])


def test_png_is_written(tmp_path):
    log = write_log(tmp_path / "train_log.jsonl", [train_record(1, 2.0, T0), valid_record(1, 2.5, T0 + 1)])
    out = tmp_path / "sub" / "curves.png"
    plot_training_curves(log, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temporary file left beside it


def test_resumed_duplicates_are_superseded(tmp_path):
    # Killed after update 4 with a checkpoint at 2: the resumed run redoes 3 and 4 with new values.
    first = [train_record(u, 10.0 + u, T0 + u) for u in range(1, 5)] + [valid_record(4, 9.0, T0 + 5)]
    redone = [train_record(u, 20.0 + u, T0 + 100 + u) for u in range(3, 7)] + [valid_record(4, 7.0, T0 + 105)]
    records = read_training_log(write_log(tmp_path / "train_log.jsonl", first + redone))
    assert [r["update"] for r in records["train"]] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in records["train"]] == [11.0, 12.0, 23.0, 24.0, 25.0, 26.0]
    assert [(r["update"], r["loss"]) for r in records["valid"]] == [(4, 7.0)]
    fig = plot_training_curves(tmp_path / "train_log.jsonl", tmp_path / "c.png")
    assert lines_by_label(fig)[(0, "train loss")][1] == [11.0, 12.0, 23.0, 24.0, 25.0, 26.0]


def test_records_are_sorted_by_update_and_other_events_kept(tmp_path):
    records = [train_record(2, 1.0, T0 + 2), {"type": "checkpoint", "path": "x.pt"}, train_record(1, 2.0, T0 + 1)]
    result = read_training_log(write_log(tmp_path / "train_log.jsonl", records))
    assert [r["update"] for r in result["train"]] == [1, 2]
    assert result["checkpoint"] == [{"type": "checkpoint", "path": "x.pt"}]


def test_torn_last_line_is_skipped(tmp_path):
    records = [train_record(1, 2.0, T0), train_record(2, 1.5, T0 + 1)]
    log = write_log(tmp_path / "train_log.jsonl", records, tail='{"type": "train", "epoch": 1, "upd')
    assert [r["loss"] for r in read_training_log(log)["train"]] == [2.0, 1.5]
    assert [r["update"] for r in read_training_log(tmp_path)["train"]] == [1, 2]  # a save dir names its log


def test_malformed_middle_line_names_file_and_line(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text(json.dumps(train_record(1, 2.0, T0)) + "\nnot json\n" + json.dumps(train_record(2, 1.0, T0)) + "\n")
    with pytest.raises(UserError, match=r"train_log\.jsonl, line 2"):
        read_training_log(log)


def test_missing_log_names_the_file(tmp_path):
    with pytest.raises(UserError, match="nothere.jsonl"):
        read_training_log(tmp_path / "nothere.jsonl")
    with pytest.raises(UserError, match="no train or valid records"):
        plot_training_curves(write_log(tmp_path / "empty.jsonl", []), tmp_path / "c.png")


def test_reporter_cuts_a_torn_tail_before_appending(tmp_path):
    # A resumed run appends; its first record must not glue onto the killed run's fragment.
    log = write_log(tmp_path / "train_log.jsonl", [train_record(1, 2.0, T0)], tail='{"type": "tra')
    reporter = ProgressReporter("none", 1, log)
    reporter.update(train_record(2, 1.5, T0 + 1))
    reporter.close()
    assert [r["update"] for r in read_training_log(log)["train"]] == [1, 2]
    assert len(log.read_text().splitlines()) == 2


def test_matplotlib_is_not_imported_at_module_import():
    import subprocess
    import sys

    code = "import sys, toolkit.curves; print('matplotlib' in sys.modules)"
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "False"
