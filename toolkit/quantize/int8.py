"""int8 weights with one scale per output channel, and the linear layer that computes with them.

A weight matrix W (N, K) is stored as plain data: int8 values Q (N, K) and float32 scales s (N,),
W ~= s[:, None] * Q, symmetric (no zero points), s = max|W_row| / 127. Rounding moves a weight at
most s / 2, half a quantization step of its own row.

`Int8Linear` runs PyTorch's dynamic int8 matrix product (`torch.ops.quantized.linear_dynamic`,
fbgemm on x86) on weights prepacked once from Q and s at load time: each call quantizes its
activations to 7 bits with one range for the whole call (so a row's result depends a little on
the other rows of the batch), multiplies in int8 with int32 accumulation, and rescales to
float32 in the same pass. Of the candidates measured at transformer_tiny's decoding shapes
(benchmarks/int8_matmul.py; figures in the README) it was the fastest end to end; `torch._int_mm`
with per-row activation scales, the weight-only `torch._weight_int8pack_mm` and oneDNN were
slower here. The packed weight is a runtime object, never saved: checkpoints stay tensors that
`torch.load(weights_only=True)` reads.

Shapes: N output features, K input features, M rows (batch times beam).
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

# fbgemm on x86 (measured fastest end to end; oneDNN compiles a kernel for every new number of
# rows, and beam search changes it every time a sentence finishes); qnnpack on ARM.
ENGINE_PREFERENCE = ("fbgemm", "onednn", "qnnpack")


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) float -> int8 values (N, K) and float32 scales (N,): one symmetric scale per row.

    A row of zeros (a padding embedding) gets scale 1, so dequantizing gives it back exactly.
    """
    weight = weight.detach().float()
    peak = weight.abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / 127, torch.ones_like(peak))
    values = torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return values, scale


def dequantize_rows(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 matrix int8 `values` (N, K) and `scale` (N,) stand for."""
    return values.float() * scale.float()[:, None]


def quantized_engine() -> str:
    """The quantized engine int8 layers use here (fbgemm on x86)."""
    supported = torch.backends.quantized.supported_engines
    for engine in ENGINE_PREFERENCE:
        if engine in supported:
            return engine
    raise RuntimeError(f"this PyTorch build has no quantized engine for int8 layers ({supported})")


@contextlib.contextmanager
def _engine(name: str):
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


class Int8Linear(nn.Module):
    """y = x W^T + b with W held as int8 values and per-output-channel scales (float32 in and out).

    `values`, `scale` and `bias` are buffers (plain tensors); the fbgemm-packed form is built from
    them in the constructor and is not part of the state dict.
    """

    def __init__(self, values: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        if values.dtype != torch.int8 or values.dim() != 2 or scale.shape != values.shape[:1]:
            raise ValueError(f"int8 (N, K) values and (N,) scales expected, got {values.dtype} {tuple(values.shape)}")
        self.out_features, self.in_features = values.shape
        self.register_buffer("values", values.contiguous())
        self.register_buffer("scale", scale.float().contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().float().contiguous())
        self.engine = quantized_engine()
        # Without VNNI, x86 kernels multiply u8 x s8 pairs into saturating int16 sums: 7-bit
        # activations (reduce_range) keep them exact (8 bits measured 2.7x the error at V = 9,800).
        self.reduce_range = self.engine != "qnnpack"
        zero = torch.zeros(self.out_features, dtype=torch.long)
        with _engine(self.engine), warnings.catch_warnings():
            # Quantized tensors are deprecated as a user-facing type; this one lives only until it is packed.
            warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
            qweight = torch._make_per_channel_quantized_tensor(self.values, self.scale.double(), zero, 0)
            self.packed = torch.ops.quantized.linear_prepack(qweight, self.bias)

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None = None) -> Int8Linear:
        values, scale = quantize_rows(weight)
        return cls(values, scale, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., K) -> (..., N) float32, whatever x's float dtype."""
        rows = x.reshape(-1, self.in_features).float()
        if rows.size(0) == 0:
            return x.new_zeros(*x.shape[:-1], self.out_features, dtype=torch.float32)
        out = torch.ops.quantized.linear_dynamic(rows.contiguous(), self.packed, self.reduce_range)
        return out.view(*x.shape[:-1], self.out_features)

    def dequantized_weight(self) -> torch.Tensor:
        return dequantize_rows(self.values, self.scale)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel, {self.engine}"
