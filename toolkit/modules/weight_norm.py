"""Weight-normalized linear and 1-D convolution layers (Salimans & Kingma 2016), as ConvS2S uses them.

The weight is W = g * V / ||V||, one norm per output unit (a row of a linear layer, an output
channel of a convolution), and the parameters are V (`weight_v`) and g (`weight_g`, shape (O,)):
plain tensors in the state dict, so a checkpoint loads with `torch.load(weights_only=True)`.
At initialisation V is drawn from N(0, std) and g = ||V||, so W = V.

W is computed once per call. For inference (no autograd and the module in eval mode) it is kept
until V or g changes (an optimizer step, `load_state_dict`, a move to another device or dtype),
so cached decoding does not renormalise every matrix at every step.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from toolkit.modules.conv_tbc import conv_tbc


class _WeightNormed(nn.Module):
    def __init__(self, shape: tuple[int, ...], std: float) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(shape).normal_(0.0, std))
        self.weight_g = nn.Parameter(_row_norms(self.weight_v.detach()))
        self.bias = nn.Parameter(torch.zeros(shape[0]))
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def weight(self) -> torch.Tensor:
        """W = g * V / ||V|| (same shape as V)."""
        return _normalize(self.weight_v, self.weight_g)

    def _layout(self, weight: torch.Tensor) -> torch.Tensor:
        """W in the layout `forward` computes with."""
        return weight

    def forward_weight(self) -> torch.Tensor:
        """`_layout(weight())`, computed once per call, or kept for inference until V or g changes."""
        v, g = self.weight_v, self.weight_g
        if self.training or torch.is_grad_enabled():
            return self._layout(self.weight())
        key = (v.data_ptr(), v._version, g.data_ptr(), g._version, v.dtype, v.device)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._layout(self.weight()))
        return self._cache[1]

    def train(self, mode: bool = True) -> _WeightNormed:
        self._cache = None  # back to training: the cached weight would go stale with the first step
        return super().train(mode)


def _row_norms(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())))


def _normalize(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    scale = g / _row_norms(v)
    return v * scale.view(-1, *([1] * (v.dim() - 1)))


class WeightNormLinear(_WeightNormed):
    """y = x W^T + b over the last dim; weight_v (out, in)."""

    def __init__(self, in_features: int, out_features: int, std: float) -> None:
        super().__init__((out_features, in_features), std)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.forward_weight(), self.bias)


class WeightNormConv1d(_WeightNormed):
    """1-D convolution over time-major (T, B, in) input; weight_v (out, in, k) as conv1d's.

    No padding of its own: the caller pads (both sides, or on the left for a causal convolution).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, std: float) -> None:
        super().__init__((out_channels, in_channels, kernel_size), std)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size

    def _layout(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.permute(2, 0, 1).contiguous()  # (k, out, in): one matrix per tap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(T + kernel_size - 1, B, in) -> (T, B, out)."""
        return conv_tbc(x, self.forward_weight(), self.bias)
