"""Data-parallel training with torch.distributed: who this process is, and the few collectives we need.

Started by torchrun (`torchrun --nproc_per_node N -m cli train ...`), each process reads
RANK, WORLD_SIZE and LOCAL_RANK from the environment; a plain `nmt train` is world size 1
and never touches torch.distributed. gloo on the CPU, NCCL on GPUs.

Sharding: an update consumes world_size * update_freq consecutive batches of the epoch's
plan, rank r taking the r-th run of update_freq of them. So N ranks with update-freq k see
exactly the batches of one process with update-freq N*k, and the position in the plan
(a count of plan batches) means the same for any number of ranks on resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, values: list[float], op: str = "sum") -> list[float]:
        """Sum (or max) a few numbers over all ranks; identity without distribution."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def union(self, names: list[str]) -> list[str]:
        """The sorted union of every rank's names (log keys), so all ranks reduce the same list."""
        if not self.enabled:
            return sorted(set(names))
        gathered: list = [None] * self.world_size
        dist.all_gather_object(gathered, sorted(set(names)))
        return sorted({name for part in gathered for name in part})

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def my_batches(self, group: list[Any], update_freq: int) -> list[Any]:
        """This rank's share of one update's group of world_size * update_freq batches."""
        return group[self.rank * update_freq : (self.rank + 1) * update_freq]


def from_environment(device: torch.device) -> DistributedContext:
    """Join the process group torchrun describes (or return the single-process context)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, local_rank)


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


class DataParallelModel:
    """DistributedDataParallel for forward/backward, the plain model for everything else.

    The criterion calls the model and then reads `output_weight`, `pad_index` and so on;
    those attributes pass through to the wrapped module.
    """

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.module = module
        self.ddp = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def __call__(self, *args, **kwargs):
        return self.ddp(*args, **kwargs)

    def no_sync(self):
        return self.ddp.no_sync()

    def __getattr__(self, name: str):
        return getattr(self.module, name)
