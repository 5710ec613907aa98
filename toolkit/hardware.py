"""What the hardware does fast: bf16 pays only where matrix products run in bf16 natively.

On a CPU without AVX-512 or AMX (an AVX2-only machine, for instance) PyTorch emulates bf16
matrix products hundreds of times slower than fp32, so a --bf16 run there would crawl.
"""

from __future__ import annotations

import sys

import torch


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively on `device`.

    On the CPU this is the test PyTorch itself uses to send bf16 matrix products to oneDNN
    (AVX-512 BW/VL/DQ, which AMX machines have); without it they take a slow reference path.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return True  # other backends: trust the user


def describe(device: torch.device) -> str:
    if device.type == "cpu":
        return f"CPU ({torch.backends.cpu.get_cpu_capability()})"
    return str(device)


def usable_bf16(requested: bool, device: torch.device) -> bool:
    """--bf16 where the hardware supports it; elsewhere fp32, said in one warning line."""
    if not requested or native_bf16(device):
        return requested
    print(
        f"warning: --bf16 ignored: this {describe(device)} has no native bf16 matrix products "
        "(AVX-512 or AMX on a CPU), where bf16 runs far slower than fp32; running in fp32",
        file=sys.stderr,
    )
    return False
