"""Blocking of repeated n-grams, vectorised over all hypotheses of a step."""

from __future__ import annotations

import torch


def block_repeated_ngrams(lprobs: torch.Tensor, generated: torch.Tensor, n: int) -> torch.Tensor:
    """Forbid any token that would complete an n-gram already present in `generated`.

    lprobs (N, V) is modified in place and returned; generated (N, t) holds the tokens
    produced so far (without the leading BOS). Every length-n window of each row whose
    first n-1 tokens equal the row's last n-1 tokens bans the window's last token.
    """
    t = generated.size(1)
    if n <= 0 or t < n:
        return lprobs
    windows = generated.unfold(1, n, 1)  # (N, t-n+1, n)
    if n == 1:
        match = torch.ones(windows.shape[:2], dtype=torch.bool, device=generated.device)
    else:
        suffix = generated[:, t - n + 1 :]  # (N, n-1): the prefix the next token would extend
        match = (windows[:, :, : n - 1] == suffix.unsqueeze(1)).all(dim=-1)
    # scatter_add (not scatter) so a token listed by both a matching and a non-matching
    # window is banned deterministically.
    hits = torch.zeros_like(lprobs).scatter_add_(1, windows[:, :, n - 1], match.to(lprobs.dtype))
    return lprobs.masked_fill_(hits > 0, float("-inf"))
