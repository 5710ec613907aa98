"""`nmt info`: the machine as nmt sees it, and the precision a script should plan training for.

Recipes size their model and schedule by it: an AVX2-only CPU trains in fp32 at a quarter to a third of
the speed an AMX CPU reaches in bf16, so what fits in an hour differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cli.options import parse_command
from toolkit.config import option

DESCRIPTION = "Show the device, CPU vector unit, threads and whether bf16 is native here."


@dataclass
class InfoConfig:
    device: str = option("auto", "cpu, cuda, cuda:N or auto (the device nmt train picks)")
    precision: bool = option(
        False,
        "print only the precision to train in: bf16 where the device has native bf16 matrix products "
        "(AMX or AVX-512 CPU, bf16-capable GPU), else fp32; for scripts",
    )


def run(argv: list[str], prog: str = "nmt info") -> None:
    config = parse_command(prog, DESCRIPTION, InfoConfig, argv)
    import torch

    from toolkit import __version__, hardware
    from toolkit.train.setup import resolve_device

    resolved = resolve_device(config.device)
    native = hardware.native_bf16(resolved)
    planned = "bf16" if native else "fp32"
    if config.precision:
        print(planned)
        return
    rows = [
        ("nmt", __version__),
        ("torch", torch.__version__),
        ("device", str(resolved)),
        ("cpu vector unit", torch.backends.cpu.get_cpu_capability()),
        ("cores / torch threads", f"{os.cpu_count()} / {torch.get_num_threads()}"),
        ("native bf16", "yes" if native else "no (--bf16 falls back to fp32)"),
        ("train in", planned),
    ]
    if resolved.type == "cuda":
        rows.insert(3, ("gpu", torch.cuda.get_device_name(resolved)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
