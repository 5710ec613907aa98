"""Length normalization of hypothesis scores (fairseq's convention)."""

from __future__ import annotations

import torch


def normalize_score(score: float | torch.Tensor, length: int | torch.Tensor, lenpen: float) -> float | torch.Tensor:
    """Sum of log-probabilities divided by length ** lenpen.

    `length` counts every generated token including the final EOS. lenpen 0 leaves the
    raw sum (favours short outputs), 1 the per-token average; above 1 favours long ones.
    """
    if lenpen == 0:
        return score
    if isinstance(length, torch.Tensor):
        return score / length.to(torch.float32 if not isinstance(score, torch.Tensor) else score.dtype) ** lenpen
    return score / float(length) ** lenpen
