"""A dilated 1-D convolution over batch-first sequences, centred or causal, with a one-column step.

The full pass is one vectorised `conv1d` over (B, C, T) with explicit zero padding: symmetric
for a centred (non-causal) convolution, (k-1)*dilation on the left for a causal (masked) one, so
output t never reads an input after t. The step serves incremental decoding of the causal
form: it keeps the last (k-1)*dilation inputs in a buffer (B, (k-1)*dilation, C), batch-first so
a beam reorders it like any other state tensor, and computes one output column from the buffer
and the new input with the same weights as the full pass. A zero buffer stands for the left
padding, so step after step equals the full pass exactly.
Shapes: B batch, T length, C channels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DilatedConv1d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, causal: bool) -> None:
        super().__init__()
        if not causal and kernel_size % 2 == 0:
            raise ValueError(f"a centred convolution needs an odd kernel size, got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.causal = causal
        # How far back (causal) or across both sides together (centred) one output reads.
        self.reach = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C_in) -> (B, T, C_out)."""
        pad = (self.reach, 0) if self.causal else (self.reach // 2, self.reach // 2)
        return self.conv(F.pad(x.transpose(1, 2), pad)).transpose(1, 2)

    def initial_buffer(self, x: torch.Tensor) -> torch.Tensor:
        """The zero buffer (B, reach, C_in) that stands for the causal left padding, like x (B, C_in)."""
        return x.new_zeros(x.size(0), self.reach, x.size(1))

    def step(self, x: torch.Tensor, buffer: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal step: the new input column x (B, C_in) -> (output (B, C_out), new buffer).

        buffer: the last `reach` inputs (B, reach, C_in), oldest first, or None before the first
        step. The input buffer is left as it is (a new one is returned).
        """
        if not self.causal:
            raise RuntimeError("only a causal convolution decodes step by step")
        if buffer is None:
            buffer = self.initial_buffer(x)
        window = torch.cat([buffer, x.unsqueeze(1).to(buffer.dtype)], dim=1)  # (B, reach + 1, C_in)
        out = self.conv(window.transpose(1, 2))  # exactly one column: (B, C_out, 1)
        return out[:, :, 0], window[:, 1:]
