"""One update: forward and backward over --update-freq batches, normalise, clip, step.

Losses are sum-reduced by the criterion; the gradients of all accumulated batches are
divided by their total sample size once, so --update-freq N equals one batch N times
larger (to floating-point tolerance).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from toolkit.data.collate import Batch
from toolkit.errors import UserError
from toolkit.train.distributed import DistributedContext


class TrainingDiverged(UserError):
    """Repeated non-finite losses: stop rather than write a poisoned checkpoint."""


@dataclass
class StepResult:
    logs: list[dict]
    grad_norm: float
    skipped: bool


class Trainer:
    def __init__(
        self,
        model,
        criterion,
        optimizer,
        scheduler,
        device: torch.device,
        bf16: bool = False,
        fp16: bool = False,
        clip_norm: float = 0.0,
        max_nonfinite: int = 5,
        distributed: DistributedContext | None = None,
        parallel_model=None,
        task=None,
    ) -> None:
        self.model, self.criterion = model, criterion
        # The task runs each step (a plain criterion call for `translation`; several streams
        # and generation inside the step for others); without one the criterion is the step.
        self.task = task or _CriterionStep()
        # Forward/backward go through the DistributedDataParallel wrapper when there is one.
        self.distributed = distributed or DistributedContext()
        self.parallel_model = parallel_model
        self.optimizer, self.scheduler = optimizer, scheduler
        self.device = device
        self.bf16, self.fp16 = bf16, fp16
        self.clip_norm = clip_norm
        self.max_nonfinite = max_nonfinite
        self.num_updates = 0
        self.nonfinite_in_a_row = 0
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.params = [p for p in model.parameters() if p.requires_grad]

    def autocast(self):
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.fp16:
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def train_step(self, batches: list[Batch]) -> StepResult:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logs, sample_size, total_loss = [], 0, 0.0
        forward_model = self.parallel_model or self.model
        for i, batch in enumerate(batches):
            batch = batch.to(self.device)
            # Gradients are all-reduced once per update, on its last batch.
            last = i == len(batches) - 1
            sync = contextlib.nullcontext() if last or self.parallel_model is None else self.parallel_model.no_sync()
            with sync:
                with self.autocast():
                    loss, size, log = self.task.train_step(forward_model, self.criterion, batch, self.num_updates)
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            sample_size += size
            total_loss += log["loss"]
            logs.append(log)
        if self.distributed.enabled:
            # DDP averaged the gradients over ranks; normalise by the global sample size instead.
            logs = [merge_logs(logs, self.distributed)]
            sample_size, total_loss = logs[0]["sample_size"], logs[0]["loss"]
        if not math.isfinite(total_loss):
            return self._skip(logs, f"non-finite loss ({total_loss}) at update {self.num_updates + 1}")
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads and sample_size:
            torch._foreach_mul_(grads, self.distributed.world_size / sample_size)
        max_norm = self.clip_norm if self.clip_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm, foreach=True))
        if not math.isfinite(grad_norm):
            return self._skip(logs, f"non-finite gradient norm at update {self.num_updates + 1}")
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.nonfinite_in_a_row = 0
        self.num_updates += 1
        self.scheduler.step_update(self.num_updates)
        return StepResult(logs, grad_norm, skipped=False)

    def _skip(self, logs: list[dict], reason: str) -> StepResult:
        """Drop this update; fp16 lowers its loss scale, anything else counts towards stopping."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.update(self.scaler.get_scale() / 2)
            return StepResult(logs, math.nan, skipped=True)
        self.nonfinite_in_a_row += 1
        if self.nonfinite_in_a_row >= self.max_nonfinite:
            raise TrainingDiverged(
                f"training diverged: {reason}, {self.nonfinite_in_a_row} in a row; "
                "no checkpoint written (try a lower --lr or --clip-norm)"
            )
        return StepResult(logs, math.nan, skipped=True)

    @torch.no_grad()
    def valid_step(self, batch: Batch) -> dict:
        self.model.eval()
        with self.autocast():
            return self.task.valid_step(self.model, self.criterion, batch.to(self.device))

    def valid_logs(self, batches: list[Batch]) -> list[dict]:
        """Validation logs of this rank's batches, summed over all ranks when distributed."""
        logs = [self.valid_step(batch) for batch in batches]
        return [merge_logs(logs, self.distributed)] if self.distributed.enabled else logs

    def state_dict(self) -> dict:
        return {
            "num_updates": self.num_updates,
            "scaler": self.scaler.state_dict() if self.scaler else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.num_updates = int(state["num_updates"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


class _CriterionStep:
    """The step of a Trainer given no task: the criterion on the batch."""

    def train_step(self, model, criterion, batch: Batch, update_num: int):
        return criterion(model, batch)

    def valid_step(self, model, criterion, batch: Batch) -> dict:
        return criterion(model, batch)[2]


def merge_logs(logs: list[dict], distributed: DistributedContext) -> dict:
    """One log summing every batch of every rank (task and criterion log values are sums).

    The ranks first agree on the keys: a rank with no batch (fewer validation batches than ranks)
    or a task whose logs vary between batches contributes zeros for what it lacks.
    """
    mine = {key for log in logs for key, value in log.items() if isinstance(value, (int, float))}
    keys = distributed.union(list(mine))
    totals = distributed.all_reduce([float(sum(log.get(key, 0) for log in logs)) for key in keys])
    merged = dict(zip(keys, totals, strict=True))
    for key in keys:
        if all(isinstance(log.get(key, 0), int) for log in logs):
            merged[key] = int(merged[key])
    return merged
