"""Training curves from SAVE_DIR/train_log.jsonl: reading the log and drawing it (optional extra: matplotlib).

A killed and resumed run appends to the same log and redoes the updates after its last
checkpoint, so an update can appear twice; the later record is the one the run kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import UserError
from toolkit.fileio import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LOG_NAME = "train_log.jsonl"


def read_training_log(path: str | Path) -> dict[str, list[dict]]:
    """Records by type ("train", "valid", ...), each list sorted by update, later duplicates winning.

    A torn last line (a run killed mid-write) is skipped; a malformed line elsewhere is an
    error naming the file and line, since it means the log is not what the toolkit wrote.
    A save directory stands for the log inside it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / LOG_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"training log not found: {path}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    by_update: dict[tuple[str, int], dict] = {}
    unnumbered: list[dict] = []  # events without an update number: kept in file order
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse(line)
        if record is None:
            if number == len(lines):
                break
            raise UserError(f"{path}, line {number}: not a JSON log record: {line[:80]!r}")
        update = record.get("update")
        if isinstance(update, int) and not isinstance(update, bool):
            by_update.pop((record["type"], update), None)  # re-insert: the later record wins
            by_update[(record["type"], update)] = record
        else:
            unnumbered.append(record)
    records: dict[str, list[dict]] = {}
    for (kind, _), record in sorted(by_update.items(), key=lambda item: item[0][1]):
        records.setdefault(kind, []).append(record)
    for record in unnumbered:
        records.setdefault(record["type"], []).append(record)
    return records


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("type"), str) else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series(records: list[dict], key: str, x: str, t0: float | None) -> tuple[list[float], list[float]]:
    """(x, y) of the records that have both: x is "update" or "hours" (since t0)."""
    xs, ys = [], []
    for record in records:
        y = record.get(key)
        if x == "hours":
            time = record.get("time")
            value = (time - t0) / 3600.0 if _number(time) and t0 is not None else None
        else:
            value = record.get("update")
        if _number(y) and _number(value):
            xs.append(value)
            ys.append(y)
    return xs, ys


# Each panel row: (title, y label, [(record type, key, line label, style)]).
_LOSS_ROW = (
    "loss",
    "loss (bits per token, log base 2)",
    [("train", "loss", "train loss", {}), ("valid", "loss", "valid loss", {"marker": "o"})],
)
_BLEU_ROW = ("BLEU", "BLEU", [("valid", "bleu", "valid BLEU", {"marker": "o"})])
_LR_ROW = ("learning rate", "learning rate", [("train", "lr", "learning rate", {})])
_COLUMNS = (("update", "updates"), ("hours", "training hours (wall clock since the first log record)"))


def _require_matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plotting training curves needs matplotlib: pip install 'nmt[plot]'") from None
    return Figure


def plot_training_curves(log_path: str | Path, output: str | Path) -> Figure:
    """Draw loss, BLEU (when the log has it) and learning rate against updates and hours into a PNG.

    Returns the figure, so a caller (or a test) can read the plotted data back from its lines.
    """
    records = read_training_log(log_path)
    train, valid = records.get("train", []), records.get("valid", [])
    if not train and not valid:
        raise UserError(f"{log_path}: no train or valid records to plot yet")
    rows = [_LOSS_ROW]
    if any(_number(r.get("bleu")) for r in valid):
        rows.append(_BLEU_ROW)
    rows.append(_LR_ROW)
    times = [r["time"] for r in train + valid if _number(r.get("time"))]
    t0 = min(times) if times else None
    Figure = _require_matplotlib()
    # A bare Figure (no pyplot): nothing global to close, no interactive backend picked.
    fig = Figure(figsize=(11, 3.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(_COLUMNS), squeeze=False)
    by_type = {"train": train, "valid": valid}
    for row, (title, ylabel, lines) in enumerate(rows):
        for col, (x, xlabel) in enumerate(_COLUMNS):
            ax: Axes = axes[row][col]
            for kind, key, label, style in lines:
                xs, ys = _series(by_type[kind], key, x, t0)
                if xs:
                    ax.plot(xs, ys, label=label, linewidth=1.2, markersize=3, **style)
            ax.set_title(f"{title} by {'update' if x == 'update' else 'training time'}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            if ax.get_lines():
                ax.legend()
    fig.suptitle(f"training curves: {log_path}")
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return fig
