"""What search returns for each sentence: a list of nbest hypotheses, best first."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Hypothesis:
    """One output sentence. T target length including the final EOS, S source length.

    score is the sum of positional_scores divided by T ** lenpen.
    """

    tokens: torch.Tensor  # (T,) ending with EOS
    score: float
    positional_scores: torch.Tensor  # (T,) log-probability of each token
    attention: torch.Tensor | None = None  # (T, S) over the unpadded source
    alignment: torch.Tensor | None = None  # (T-1,) source position most attended by each non-EOS token


def hard_alignment(attention: torch.Tensor | None) -> torch.Tensor | None:
    """Argmax attention per target token, ignoring the final EOS on both sides."""
    if attention is None:
        return None
    tgt, src = attention.shape
    body = attention[: max(tgt - 1, 0), : max(src - 1, 1)]
    if body.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    return body.argmax(dim=-1)
