"""Several training corpora mixed per epoch in set proportions, as one indexable dataset.

A weight is how many times, in expectation, each sentence of a corpus is seen per epoch:
the whole part repeats the corpus, the fraction samples that share of it without
replacement. The rows of an epoch are a pure function of (seed, epoch), so a run resumed
mid-epoch rebuilds the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.data.collate import Batch, collate
from toolkit.data.pair_dataset import PairDataset


@dataclass
class Corpus:
    name: str
    data: PairDataset
    weight: float = 1.0
    prepend: int | None = None  # a tag id put before every source sentence (tagged back-translation)
    rows: slice | None = None  # the part of the split an epoch draws from (per-epoch BPE-dropout copies)


def epoch_rows(corpus: Corpus, seed: int, epoch: int, index: int) -> np.ndarray:
    """Row ids (within the corpus) an epoch trains on: weight copies, the fraction sampled."""
    part = corpus.rows or slice(0, len(corpus.data))
    rows = np.arange(part.start, part.stop, dtype=np.int64)
    whole, fraction = divmod(corpus.weight, 1.0)
    chosen = [rows] * int(whole)
    extra = int(round(fraction * len(rows)))
    if extra:
        rng = np.random.default_rng([seed, epoch, index, 7919])
        chosen.append(np.sort(rng.choice(rows, size=extra, replace=False)))
    return np.concatenate(chosen) if chosen else rows[:0]


class CorpusMix:
    """Corpora addressed by one global row id: corpus k's row r is offsets[k] + r."""

    def __init__(self, corpora: list[Corpus], pad_index: int, eos_index: int) -> None:
        self.corpora = corpora
        self.pad_index, self.eos_index = pad_index, eos_index
        self.offsets = np.cumsum([0] + [len(c.data) for c in corpora])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def epoch(self, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(global row ids, their source sizes, their target sizes) for one epoch, with repeats."""
        ids, src_sizes, tgt_sizes = [], [], []
        for k, corpus in enumerate(self.corpora):
            rows = epoch_rows(corpus, seed, epoch, k)
            ids.append(rows + self.offsets[k])
            src_sizes.append(corpus.data.src_sizes[rows] + (corpus.prepend is not None))
            tgt = corpus.data.tgt_sizes
            tgt_sizes.append(None if tgt is None else tgt[rows])
        tgt_all = None if any(t is None for t in tgt_sizes) else np.concatenate(tgt_sizes)
        return np.concatenate(ids), np.concatenate(src_sizes), tgt_all

    def batch(self, global_ids: np.ndarray) -> Batch:
        ids = [int(i) for i in global_ids]
        which = np.searchsorted(self.offsets, ids, side="right") - 1
        sources, targets = [], []
        for gid, k in zip(ids, which.tolist(), strict=True):
            corpus = self.corpora[k]
            local = gid - int(self.offsets[k])
            src = np.asarray(corpus.data.src[local], dtype=np.int64)
            if corpus.prepend is not None:
                src = np.concatenate([[corpus.prepend], src])
            sources.append(src)
            if corpus.data.tgt is not None:
                targets.append(np.asarray(corpus.data.tgt[local], dtype=np.int64))
        return collate(ids, sources, targets or None, self.pad_index, self.eos_index)

    def describe(self) -> str:
        """e.g. 'train 10000 x2 + train1 9500 (29500 an epoch)'."""
        parts = []
        total = 0.0
        for corpus in self.corpora:
            n = (corpus.rows.stop - corpus.rows.start) if corpus.rows else len(corpus.data)
            total += n * corpus.weight
            weight = "" if corpus.weight == 1 else f" x{corpus.weight:g}"
            parts.append(f"{corpus.name} {n}{weight}")
        return f"{' + '.join(parts)} ({math.floor(total + 0.5)} an epoch)"
