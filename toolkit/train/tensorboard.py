"""TensorBoard scalars for a training run (optional extra: tensorboard).

The JSONL log stays the record of a run; this only mirrors its numbers into event files, so
the import is lazy and a missing package is one line at construction, before any training work.
"""

from __future__ import annotations

import math
from pathlib import Path

from toolkit.errors import UserError

# Per record type, the fields worth a curve; the others (epoch, update, time) are axes or noise.
SCALARS: dict[str, tuple[str, ...]] = {
    "train": ("loss", "nll_loss", "ppl", "lr", "gnorm", "wps"),
    "valid": ("loss", "nll_loss", "ppl", "bleu"),
}


class TensorBoardWriter:
    """Writes each train or valid record's numbers as "train/loss", "valid/ppl", ... at step = update."""

    def __init__(self, logdir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "--tensorboard-logdir needs the tensorboard package: pip install 'nmt[tensorboard]'"
            ) from None
        self._writer = SummaryWriter(log_dir=str(logdir))

    def write(self, record: dict) -> None:
        """Records of other types (checkpoint saves, messages) and non-numeric fields are ignored."""
        keys = SCALARS.get(record.get("type", ""), ())
        step = record.get("update")
        if not keys or not isinstance(step, int):
            return
        for key in keys:
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self._writer.add_scalar(f"{record['type']}/{key}", float(value), global_step=step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
