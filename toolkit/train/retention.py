"""Which checkpoint files to keep: small pure functions over file names."""

from __future__ import annotations

import re
from pathlib import Path

EPOCH_RE = re.compile(r"^checkpoint(\d+)\.pt$")
UPDATE_RE = re.compile(r"^checkpoint_(\d+)_(\d+)\.pt$")


def epoch_checkpoint_name(epoch: int) -> str:
    return f"checkpoint{epoch}.pt"


def update_checkpoint_name(epoch: int, updates: int) -> str:
    return f"checkpoint_{epoch}_{updates}.pt"


def epoch_checkpoints(directory: Path) -> list[Path]:
    """Epoch checkpoints, oldest first."""
    found = [(int(m.group(1)), p) for p in directory.glob("checkpoint*.pt") if (m := EPOCH_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def update_checkpoints(directory: Path) -> list[Path]:
    """Update-interval checkpoints, oldest first."""
    found = [(int(m.group(2)), p) for p in directory.glob("checkpoint_*.pt") if (m := UPDATE_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def to_delete(paths: list[Path], keep: int) -> list[Path]:
    """All but the last `keep` of an oldest-first list (keep < 0 keeps everything)."""
    if keep < 0 or len(paths) <= keep:
        return []
    return paths[: len(paths) - keep]


def is_better(value: float, best: float | None, maximize: bool) -> bool:
    if best is None:
        return True
    return value > best if maximize else value < best
