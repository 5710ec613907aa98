"""Token-budget batches: sentences bucketed by length, batch order shuffled per epoch by seed.

The batch list of an epoch is a pure function of (sizes, budget, seed, epoch), so a run
resumed mid-epoch can rebuild it and skip the batches it has already trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BatchPlan:
    batches: list[np.ndarray]
    skipped: int  # sentences longer than the budget or the model's maximum


def plan_batches(
    src_sizes: np.ndarray,
    tgt_sizes: np.ndarray | None,
    max_tokens: int | None,
    max_sentences: int | None,
    max_positions: tuple[int, int] | None = None,
    seed: int = 1,
    epoch: int = 1,
    shuffle: bool = True,
    required_multiple: int = 1,
) -> BatchPlan:
    """Group sentence indices into batches whose padded size (sentences x longest) fits max_tokens."""
    src_sizes = np.asarray(src_sizes, dtype=np.int64)
    tgt = np.zeros_like(src_sizes) if tgt_sizes is None else np.asarray(tgt_sizes, dtype=np.int64)
    longest = np.maximum(src_sizes, tgt)
    keep = np.ones(len(src_sizes), dtype=bool)
    if max_tokens is not None:
        keep &= longest <= max_tokens
    if max_positions is not None:
        keep &= (src_sizes <= max_positions[0]) & (tgt <= max_positions[1])
    rng = np.random.RandomState((seed * 1_000_003 + epoch) % 2**32)
    indices = np.arange(len(src_sizes))
    tie_break = rng.permutation(len(src_sizes)) if shuffle else indices
    # Sort by target then source length (ties broken randomly per epoch), so a batch's
    # sentences have similar lengths and little padding.
    order = np.lexsort((tie_break, src_sizes, tgt))
    order = order[keep[order]]
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    cap_sentences = max_sentences or n or 1
    while start < n:
        end = start
        width = 0
        while end < n and end - start < cap_sentences:
            new_width = max(width, int(longest[order[end]]))
            if max_tokens is not None and new_width * (end - start + 1) > max_tokens:
                break
            width = new_width
            end += 1
        count = end - start
        if required_multiple > 1 and count > required_multiple and end < n:
            count -= count % required_multiple
        batches.append(order[start : start + count])
        start += count
    if shuffle:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return BatchPlan(batches, int((~keep).sum()))
