"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def runnable_precisions(precisions: list[str], device: str) -> list[str]:
    """The precisions worth timing here: bf16 is dropped (and said so) where the hardware emulates it."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from toolkit.hardware import describe, native_bf16

    dev = torch.device(device)
    if "bf16" in precisions and not native_bf16(dev):
        print(f"bf16 skipped: this {describe(dev)} has no native bf16 matrix products (AVX-512 or AMX)")
        return [p for p in precisions if p != "bf16"]
    return precisions
