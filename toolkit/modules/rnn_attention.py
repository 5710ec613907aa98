"""Attention for recurrent decoders: Bahdanau additive, Luong dot/general/concat, and Luong local windows.

Every module scores a query (a decoder state) against the encoder states, masks padding,
and returns the context vector and the attention weights. Anything that depends only on
the source (projected keys) is computed once per sentence by `precompute`, so a decoder
step costs one small matmul per score.

Shapes: B batch, S source length, E encoder output dim, Q query dim, A attention dim.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SCORES = ("dot", "general", "concat")
WINDOWS = ("global", "local-m", "local-p")


class AttentionScore(nn.Module):
    """score(q, h_s) for every source position; `keys` holds the source-only part."""

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, Q), keys from `precompute` -> scores (B, S)."""
        raise NotImplementedError


class DotScore(AttentionScore):
    """Luong dot: q . h_s (needs Q == E)."""

    def __init__(self, query_dim: int, encoder_dim: int) -> None:
        super().__init__()
        if query_dim != encoder_dim:
            raise ValueError(
                f"dot attention needs the decoder hidden size ({query_dim}) to equal the encoder output size "
                f"({encoder_dim}); use general or concat"
            )

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return encoder_out

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)


class GeneralScore(AttentionScore):
    """Luong general: q^T W h_s, with W h_s precomputed as the keys."""

    def __init__(self, query_dim: int, encoder_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(encoder_dim, query_dim, bias=False)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.key_proj(encoder_out)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)


class AdditiveScore(AttentionScore):
    """v^T tanh(W_q q + W_k h_s): Bahdanau's additive score, and Luong's concat (W [q; h_s] split in two)."""

    def __init__(self, query_dim: int, encoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(query_dim, attention_dim, bias=False)
        self.key_proj = nn.Linear(encoder_dim, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=False)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.key_proj(encoder_out)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.v(torch.tanh(keys + self.query_proj(query).unsqueeze(1))).squeeze(2)


def build_score(name: str, query_dim: int, encoder_dim: int) -> AttentionScore:
    if name == "dot":
        return DotScore(query_dim, encoder_dim)
    if name == "general":
        return GeneralScore(query_dim, encoder_dim)
    if name == "concat":
        return AdditiveScore(query_dim, encoder_dim, query_dim)
    raise ValueError(f"--attention-score must be one of {', '.join(SCORES)}, got {name!r}")


class RecurrentAttention(nn.Module):
    """Scores, an optional local window (Luong et al. 2015, section 3.2), a masked softmax and the context.

    global: every source position. local-m: positions within D of p_t = t (clamped to the
    last source position). local-p: p_t = S_len * sigmoid(v_p^T tanh(W_p q)), positions within
    D of p_t, and the weights multiplied by a Gaussian exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D/2.
    We renormalise the local-p product so the weights stay a distribution (they sum to 1,
    like every other variant's, which is what alignments and the context expect).
    """

    def __init__(self, score: AttentionScore, query_dim: int, window: str = "global", window_size: int = 10) -> None:
        super().__init__()
        if window not in WINDOWS:
            raise ValueError(f"--attention-window must be one of {', '.join(WINDOWS)}, got {window!r}")
        if window != "global" and window_size < 1:
            raise ValueError(f"--local-window-size must be at least 1, got {window_size}")
        self.score, self.window, self.window_size = score, window, window_size
        if window == "local-p":
            self.position_proj = nn.Linear(query_dim, query_dim, bias=False)
            self.position_v = nn.Linear(query_dim, 1, bias=False)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.score.precompute(encoder_out)

    def center(self, query: torch.Tensor, lengths: torch.Tensor, step: int) -> torch.Tensor:
        """The window's centre p_t (B,), in source positions counted from 0."""
        if self.window == "local-m":
            return torch.clamp(lengths - 1, max=step).to(query.dtype)
        gate = torch.sigmoid(self.position_v(torch.tanh(self.position_proj(query)))).squeeze(1)
        return lengths.to(gate.dtype) * gate

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid: torch.Tensor,
        lengths: torch.Tensor,
        step: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q); keys from `precompute`; values (B, S, E); valid (B, S) True on real tokens;
        lengths (B,); step t (0-based, for local-m). Returns context (B, E) and weights (B, S)."""
        scores = self.score(query, keys).float()
        if self.window != "global":
            center = self.center(query, lengths, step).float()
            distance = torch.arange(scores.size(1), device=scores.device, dtype=torch.float32) - center.unsqueeze(1)
            valid = valid & (distance.abs() <= self.window_size)
            if self.window == "local-p":
                sigma = self.window_size / 2
                scores = scores - distance.square() / (2 * sigma * sigma)
        weights = F.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
        context = torch.bmm(weights.unsqueeze(1).to(values.dtype), values).squeeze(1)
        return context, weights
