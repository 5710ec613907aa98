"""The PreprocessConfig the preprocess tests start from: a tiny corpus's train/valid/test, 60 merges."""

from __future__ import annotations

from pathlib import Path

from toolkit.data.preprocess import PreprocessConfig


def preprocess_config(raw: Path, dest: Path, **kwargs) -> PreprocessConfig:
    values = dict(
        source_lang="de",
        target_lang="en",
        trainpref=str(raw / "train"),
        validpref=[str(raw / "valid")],
        testpref=[str(raw / "test")],
        destdir=str(dest),
        bpe_merges=60,
        workers=1,
        quiet=True,
    )
    values.update(kwargs)
    return PreprocessConfig(**values)
