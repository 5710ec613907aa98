"""1-D convolution over time-major input, (T, B, C), as k matrix products.

With time first, the input rows a kernel tap reads, x[j : j + T], are one contiguous (T*B, C)
block, so a convolution of width k is k GEMMs accumulated in place: out = b + sum_j x[j:j+T] W_j^T,
and the backward pass is 2k GEMMs writing into one gradient buffer. On a CPU this is faster than
conv1d over (B, C, T) for the widths and sizes of ConvS2S (the idea of fairseq's ConvTBC).
A cached decoding step is the same computation on a window of k columns giving one column.

Under autocast the inputs are cast to the autocast dtype here and the products run in it.
"""

from __future__ import annotations

import torch


def _products(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    kernel = taps.size(0)
    steps, batch, channels = x.size(0) - kernel + 1, x.size(1), x.size(2)
    out = torch.addmm(bias, x[0:steps].reshape(steps * batch, channels), taps[0].t())
    for j in range(1, kernel):
        out.addmm_(x[j : j + steps].reshape(steps * batch, channels), taps[j].t())
    return out.view(steps, batch, -1)


class _ConvTBC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, taps)
        with torch.autocast(x.device.type, enabled=False):
            return _products(x, taps, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, taps = ctx.saved_tensors
        kernel, (steps, batch, _) = taps.size(0), grad.shape
        with torch.autocast(x.device.type, enabled=False):
            grad = grad.reshape(steps * batch, -1).to(x.dtype)
            grad_x = torch.zeros_like(x, memory_format=torch.contiguous_format)
            grad_taps = torch.empty_like(taps, memory_format=torch.contiguous_format)
            for j in range(kernel):
                rows = x[j : j + steps].reshape(steps * batch, -1)
                grad_x[j : j + steps].view(steps * batch, -1).addmm_(grad, taps[j])
                torch.mm(grad.t(), rows, out=grad_taps[j])
            return grad_x, grad_taps, grad.sum(0)


def conv_tbc(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (T + k - 1, B, in) already padded, taps (k, out, in), bias (out,) -> (T, B, out).

    out[t] = bias + sum_j taps[j] @ x[t + j]: tap j of a causal convolution reads j - (k - 1) steps back.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, taps, bias = x.to(dtype), taps.to(dtype), bias.to(dtype)
    if torch.is_grad_enabled() and (x.requires_grad or taps.requires_grad or bias.requires_grad):
        return _ConvTBC.apply(x, taps, bias)
    with torch.autocast(device, enabled=False):
        return _products(x, taps, bias)
