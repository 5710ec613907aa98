"""Tiny generated data directories (copy / reverse tasks) written through the data API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import IndexedDatasetBuilder, best_dtype

SYMBOLS = [f"w{i}" for i in range(12)]


def make_task_dir(
    destdir: Path,
    task: str = "copy",
    n_train: int = 1000,
    n_valid: int = 100,
    min_len: int = 3,
    max_len: int = 8,
    seed: int = 0,
) -> Path:
    """Write dict.src.txt, dict.tgt.txt and train/valid splits of a copy or reverse task."""
    destdir.mkdir(parents=True, exist_ok=True)
    dictionary = Dictionary()
    for symbol in SYMBOLS:
        dictionary.add_symbol(symbol, 10)
    dictionary.save(destdir / "dict.src.txt")
    dictionary.save(destdir / "dict.tgt.txt")
    rng = np.random.RandomState(seed)
    for split, count in (("train", n_train), ("valid", n_valid)):
        src = IndexedDatasetBuilder(destdir / f"{split}.src-tgt.src", best_dtype(len(dictionary)))
        tgt = IndexedDatasetBuilder(destdir / f"{split}.src-tgt.tgt", best_dtype(len(dictionary)))
        for _ in range(count):
            length = rng.randint(min_len, max_len + 1)
            words = rng.randint(dictionary.nspecial, len(dictionary), size=length)
            out = words[::-1] if task == "reverse" else words
            src.add(np.append(words, dictionary.eos_index))
            tgt.add(np.append(out, dictionary.eos_index))
        src.finalize()
        tgt.finalize()
    (destdir / "preprocess.json").write_text(json.dumps({"config": {"source_lang": "src", "target_lang": "tgt"}}))
    return destdir


TINY_MODEL_FLAGS = [
    "--encoder-layers",
    "2",
    "--decoder-layers",
    "2",
    "--encoder-embed-dim",
    "64",
    "--decoder-embed-dim",
    "64",
    "--encoder-ffn-embed-dim",
    "128",
    "--decoder-ffn-embed-dim",
    "128",
    "--encoder-attention-heads",
    "4",
    "--decoder-attention-heads",
    "4",
]
