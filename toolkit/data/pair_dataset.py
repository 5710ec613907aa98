"""A parallel (or monolingual) dataset over memory-mapped splits, read into Batches."""

from __future__ import annotations

import numpy as np

from toolkit.data.collate import Batch, collate


class PairDataset:
    """Source and optional target token ids, aligned by index."""

    def __init__(self, src, tgt, pad_index: int, eos_index: int) -> None:
        if tgt is not None and len(src) != len(tgt):
            raise ValueError(f"source has {len(src)} sentences but target has {len(tgt)}")
        self.src, self.tgt = src, tgt
        self.pad_index, self.eos_index = pad_index, eos_index

    def __len__(self) -> int:
        return len(self.src)

    @property
    def src_sizes(self) -> np.ndarray:
        return np.asarray(self.src.sizes)

    @property
    def tgt_sizes(self) -> np.ndarray | None:
        return None if self.tgt is None else np.asarray(self.tgt.sizes)

    def batch(self, indices: np.ndarray) -> Batch:
        ids = [int(i) for i in indices]
        sources = [np.asarray(self.src[i], dtype=np.int64) for i in ids]
        targets = None if self.tgt is None else [np.asarray(self.tgt[i], dtype=np.int64) for i in ids]
        return collate(ids, sources, targets, self.pad_index, self.eos_index)
