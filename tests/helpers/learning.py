"""The reversal learning check every architecture family runs: train a preset through `nmt train`, then
reverse held-out sentences with it through `nmt generate`, as a user would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.cli import nmt


@dataclass(frozen=True)
class Reversal:
    """What `nmt generate` made of the held-out split: the share reversed exactly and the A- lines."""

    sentences: int
    accuracy: float
    alignments: int


def train_on_reversal(data: Path, save_dir: Path, preset: str, flags: list[str], updates: int, **run) -> float:
    """Train PRESET for UPDATES updates (lr 0.01, no label smoothing, seed 1); the best validation loss in bits."""
    result = nmt(
        "train", str(data), "--arch", preset, *flags,
        "--lr", "0.01", "--warmup-updates", "50", "--max-update", str(updates), "--label-smoothing", "0",
        "--save-dir", str(save_dir), "--log-format", "simple", "--seed", "1",
        **run,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (save_dir / "train_log.jsonl").read_text().splitlines()]
    return min(r["loss"] for r in records if r["type"] == "valid")


def reverse_held_out(data: Path, checkpoint: Path, **run) -> Reversal:
    """Greedy-decode the valid split with alignments; how many hypotheses are exactly the reversed source."""
    generated = nmt(
        "generate", str(data), "--path", str(checkpoint), "--gen-subset", "valid",
        "--beam", "1", "--print-alignment", "--batch-size", "32",
        **run,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    sources = {line.split("\t")[0][2:]: line.split("\t")[1] for line in lines if line.startswith("S-")}
    hypotheses = {line.split("\t")[0][2:]: line.split("\t")[2] for line in lines if line.startswith("H-")}
    assert sources.keys() == hypotheses.keys(), "every source needs exactly one hypothesis"
    reversed_exactly = sum(hypotheses[i].split() == sources[i].split()[::-1] for i in sources)
    return Reversal(
        sentences=len(sources),
        accuracy=reversed_exactly / max(len(sources), 1),
        alignments=sum(line.startswith("A-") for line in lines),
    )


def assert_learns_to_reverse(
    data: Path,
    save_dir: Path,
    preset: str,
    flags: list[str],
    budget: tuple[int, float, float],
    alignments: bool,
    **run,
) -> None:
    """BUDGET = (updates, bits the best validation loss must beat, share of held-out sentences reversed exactly)."""
    updates, threshold, accuracy = budget
    best = train_on_reversal(data, save_dir, preset, flags, updates, **run)
    assert best < threshold, f"{preset}: reverse task not learned in {updates} updates, best valid {best:.3f} bits"
    reversal = reverse_held_out(data, save_dir / "checkpoint_best.pt", **run)
    assert reversal.sentences == 100
    assert reversal.accuracy >= accuracy, f"{preset}: greedy decoding reverses only {reversal.accuracy:.0%}"
    assert reversal.alignments == (100 if alignments else 0)
