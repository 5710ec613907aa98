"""Position embeddings: fixed sinusoids (Vaswani et al. 2017) or learned."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """(P, D) table; sines in the first half of the dims, cosines in the second (as fairseq)."""
    half = dim // 2
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -scale)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    return table


class PositionEmbedding(nn.Module):
    """Adds nothing itself: returns (T, D) embeddings for positions offset..offset+T-1."""

    def __init__(self, max_positions: int, dim: int, learned: bool) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.learned = learned
        if learned:
            self.weight = nn.Parameter(torch.empty(max_positions, dim))
            nn.init.normal_(self.weight, mean=0.0, std=dim**-0.5)
        else:
            self.register_buffer("weight", sinusoidal_table(max_positions, dim), persistent=False)

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        if offset + length > self.max_positions:
            raise ValueError(f"sequence of {offset + length} positions exceeds the maximum {self.max_positions}")
        return self.weight[offset : offset + length]
