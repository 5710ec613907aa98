"""Training progress: a rich bar on a terminal, plain or JSON lines otherwise, and a JSONL log file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toolkit.train.tensorboard import TensorBoardWriter


def _fmt(record: dict) -> str:
    parts = []
    for key, value in record.items():
        if key == "type":
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return " | ".join(parts)


class ProgressReporter:
    """log_format "none" prints nothing (the other ranks of a distributed run); "tqdm" is "progress".

    With a tensorboard_logdir every train and valid record is also a TensorBoard scalar; the
    writer is made here, so a missing package fails before any training work.
    """

    def __init__(
        self, log_format: str, log_interval: int, log_file: Path | None, tensorboard_logdir: str | Path | None = None
    ) -> None:
        if log_format == "auto":
            log_format = "progress" if sys.stdout.isatty() else "simple"
        self.format = "progress" if log_format == "tqdm" else log_format
        self.log_interval = log_interval
        self.log_file = log_file
        self._log_checked = False
        self.tensorboard = TensorBoardWriter(tensorboard_logdir) if tensorboard_logdir else None
        self.console = Console(stderr=False)
        self.bar: Progress | None = None
        self.task = None
        self._interval: list[dict] = []  # updates since the last printed line

    def begin_epoch(self, epoch: int, total_updates: int, done: int) -> None:
        if self.format != "progress":
            return
        self.end_epoch()
        self.bar = Progress(
            TextColumn(f"epoch {epoch:03d}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=total_updates, completed=done, stats="")

    def update(self, record: dict, advance: int = 1) -> None:
        self._write_file(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)
        if self.format == "progress" and self.bar is not None:
            streams = "".join(f" {key} {value:.3f}" for key, value in _streams(record).items())
            stats = (
                f"loss {record['loss']:.3f}{streams} ppl {record['ppl']:.1f} wps {record['wps']:.0f} "
                f"ups {record['ups']:.2f} lr {record['lr']:.2e} gnorm {record['gnorm']:.2f}"
            )
            self.bar.update(self.task, advance=advance, stats=stats)
        else:
            self._interval.append(record)
            if record["update"] % self.log_interval == 0:
                self._print(_interval_mean(self._interval))
                self._interval = []

    def event(self, record: dict) -> None:
        """Validation results, checkpoint saves, warnings: always shown."""
        self._write_file(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)
        if self.format == "progress" and self.bar is not None:
            self.bar.console.print(f"[{record['type']}] {_fmt(record)}")
        else:
            self._print(record)

    def message(self, text: str) -> None:
        if self.format == "none":
            return
        if self.format == "json":
            print(json.dumps({"type": "message", "text": text}), flush=True)
        elif self.bar is not None:
            self.bar.console.print(text)
        else:
            print(text, flush=True)

    def end_epoch(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        """End of the run: stop the bar and close the TensorBoard files; safe to call twice."""
        self.end_epoch()
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def _print(self, record: dict) -> None:
        if self.format == "none":
            return
        if self.format == "json":
            print(json.dumps(record), flush=True)
        else:
            print(f"[{record['type']}] {_fmt(record)}", flush=True)

    def _write_file(self, record: dict) -> None:
        if self.log_file is None:
            return
        if not self._log_checked:
            _drop_torn_tail(self.log_file)
            self._log_checked = True
        record = dict(record, time=round(time.time(), 3))
        with open(self.log_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _streams(record: dict) -> dict:
    """A task's per-stream losses (loss_ae_en, loss_bt_fr, ...): shown beside the total."""
    return {k: v for k, v in record.items() if k.startswith("loss_") and isinstance(v, (int, float))}


def _interval_mean(records: list[dict]) -> dict:
    """A printed line stands for the updates since the previous one: their means (ppl from the mean nll)."""
    last = records[-1]
    mean = dict(last)
    for key in ("loss", "nll_loss", "wps", "ups", "gnorm", *_streams(last)):
        values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
        if values:
            mean[key] = sum(values) / len(values)
    mean["ppl"] = 2 ** min(mean["nll_loss"], 100.0)
    return mean


def _drop_torn_tail(path: Path) -> None:
    """A run killed mid-write leaves a line without its newline; cut it, so the resumed run's
    first record starts a line of its own instead of gluing onto the fragment."""
    try:
        handle = open(path, "rb+")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, 2)
        pos = end
        while pos > 0:  # back from the end, a block at a time, to the last newline
            start = max(0, pos - 4096)
            handle.seek(start)
            block = handle.read(pos - start)
            if pos == end and block.endswith(b"\n"):
                return
            newline = block.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            pos = start
        handle.truncate(0)
