"""A real (tiny) checkpoint made the way users make one: preprocess raw text, then train 2 updates."""

from __future__ import annotations

import random
from pathlib import Path

from tests.helpers.cli import nmt

WORDS = ["ein", "Hund", "läuft", "schnell", "die", "Katze", "schläft", "a", "dog", "runs", "fast", "cat", "sleeps"]


def tiny_data(root: Path) -> Path:
    """The raw text and preprocessed directory root/bin the tiny checkpoints are trained on."""
    rng = random.Random(0)
    for split, n in (("train", 120), ("valid", 8)):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))) + " ." for _ in range(n)]
        for lang in ("de", "en"):
            (root / f"{split}.{lang}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = nmt(
        "preprocess", "-s", "de", "-t", "en", "--trainpref", str(root / "train"), "--validpref",
        str(root / "valid"), "--destdir", str(root / "bin"), "--bpe-merges", "30", "--joined-dictionary",
        "--workers", "1", "--quiet", threads=1,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root / "bin"


def tiny_checkpoint(root: Path) -> Path:
    """Moses tokenization + BPE recorded in the checkpoint, so translate runs the full text pipeline."""
    tiny_data(root)
    steps = [
        ["train", str(root / "bin"), "--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1",
         "--max-update", "2", "--save-dir", str(root / "ckpt"), "--log-format", "simple", "--threads", "1"],
    ]  # fmt: skip
    for args in steps:
        result = nmt(*args, threads=1)
        assert result.returncode == 0, result.stderr
    return root / "ckpt" / "checkpoint_last.pt"
