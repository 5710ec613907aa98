"""Learning-rate schedules as small stateful objects with a state_dict.

`step_update(num_updates)` is called by the trainer after every update it applies (a skipped
update does not count) with the new update count; it sets the rate on the optimizer and
returns it. `step_epoch(epoch, val_loss)` is called by the loop once per completed epoch,
after that epoch's end-of-epoch validation, with the epoch just finished (1-based) and that
validation's loss; validations inside an epoch (--validate-interval-updates) do not call it.
It returns the rate now in effect: the fixed and plateau schedules change and set it there,
the others (inverse_sqrt, cosine) depend on updates only and leave it as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from toolkit.config import option
from toolkit.registry import SCHEDULERS


class Schedule:
    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float) -> None:
        self.optimizer = optimizer
        self.base_lr = base_lr
        self.lr = base_lr
        self.set_lr(self.lr_at(0))

    def set_lr(self, lr: float) -> float:
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def lr_at(self, num_updates: int) -> float:
        return self.lr

    def step_update(self, num_updates: int) -> float:
        return self.set_lr(self.lr_at(num_updates))

    def step_epoch(self, epoch: int, val_loss: float | None) -> float:
        """After epoch `epoch` (see the module docstring); by default epochs change nothing."""
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        self.set_lr(float(state["lr"]))


@dataclass
class FixedConfig:
    warmup_updates: int = option(0, "linear warmup over N updates (0: none)")
    lr_shrink: float = option(1.0, "multiply the lr by this after each epoch (1 keeps it fixed)")


@SCHEDULERS.register("fixed", config=FixedConfig)
class FixedSchedule(Schedule):
    """A constant learning rate (after an optional linear warmup), optionally shrunk per epoch."""

    def __init__(self, config: FixedConfig, optimizer, base_lr: float) -> None:
        self.config = config
        self.epoch_lr = base_lr
        super().__init__(optimizer, base_lr)

    def lr_at(self, num_updates: int) -> float:
        if self.config.warmup_updates and num_updates < self.config.warmup_updates:
            return self.epoch_lr * (num_updates + 1) / self.config.warmup_updates
        return self.epoch_lr

    def step_epoch(self, epoch: int, val_loss: float | None) -> float:
        """After epoch `epoch` (1-based) ends, the rate becomes --lr * lr_shrink ** epoch.

        So epoch n trains at --lr * lr_shrink ** (n - 1), as --lr-shrink's help says: the rate
        shrinks once after every epoch. val_loss is not used.
        """
        self.epoch_lr = self.base_lr * self.config.lr_shrink ** max(epoch, 0)
        return self.set_lr(self.epoch_lr)

    def state_dict(self) -> dict:
        return {"lr": self.lr, "epoch_lr": self.epoch_lr}

    def load_state_dict(self, state: dict) -> None:
        self.epoch_lr = float(state.get("epoch_lr", self.base_lr))
        super().load_state_dict(state)


@dataclass
class InverseSqrtConfig:
    warmup_updates: int = option(4000, "linear warmup over N updates, then 1/sqrt decay")
    warmup_init_lr: float = option(1e-7, "learning rate at update 0")


@SCHEDULERS.register("inverse_sqrt", config=InverseSqrtConfig)
class InverseSqrtSchedule(Schedule):
    """Linear warmup to --lr, then decay proportional to 1/sqrt(update) (Vaswani et al. 2017)."""

    def __init__(self, config: InverseSqrtConfig, optimizer, base_lr: float) -> None:
        if config.warmup_updates < 0:
            raise ValueError(f"--warmup-updates must be >= 0, got {config.warmup_updates}")
        self.config = config
        super().__init__(optimizer, base_lr)

    def lr_at(self, num_updates: int) -> float:
        warmup = self.config.warmup_updates
        if warmup and num_updates < warmup:
            return self.config.warmup_init_lr + (self.base_lr - self.config.warmup_init_lr) * num_updates / warmup
        return self.base_lr * math.sqrt(max(warmup, 1)) / math.sqrt(max(num_updates, 1))


@dataclass
class CosineConfig:
    warmup_updates: int = option(0, "linear warmup over N updates (0: none)")
    warmup_init_lr: float = option(1e-7, "learning rate at update 0")
    min_lr: float = option(0.0, "learning rate at the end of the cosine")
    period_updates: int = option(10000, "updates from peak to --min-lr")


@SCHEDULERS.register("cosine", config=CosineConfig)
class CosineSchedule(Schedule):
    """Linear warmup, then a cosine decay from --lr to --min-lr over --period-updates."""

    def __init__(self, config: CosineConfig, optimizer, base_lr: float) -> None:
        if config.period_updates <= 0:
            raise ValueError(f"--period-updates must be positive, got {config.period_updates}")
        self.config = config
        super().__init__(optimizer, base_lr)

    def lr_at(self, num_updates: int) -> float:
        c = self.config
        if c.warmup_updates and num_updates < c.warmup_updates:
            return c.warmup_init_lr + (self.base_lr - c.warmup_init_lr) * num_updates / c.warmup_updates
        progress = min((num_updates - c.warmup_updates) / c.period_updates, 1.0)
        return c.min_lr + 0.5 * (self.base_lr - c.min_lr) * (1 + math.cos(math.pi * progress))


@dataclass
class ReduceOnPlateauConfig:
    lr_shrink: float = option(0.1, "multiply the lr by this when validation stops improving")
    lr_patience: int = option(0, "epochs without improvement before shrinking")
    warmup_updates: int = option(0, "linear warmup over N updates (0: none)")


@SCHEDULERS.register("reduce_lr_on_plateau", config=ReduceOnPlateauConfig)
class ReduceOnPlateauSchedule(Schedule):
    """Multiply the lr by --lr-shrink when the validation loss stops improving."""

    def __init__(self, config: ReduceOnPlateauConfig, optimizer, base_lr: float) -> None:
        if not 0 < config.lr_shrink <= 1:
            raise ValueError(f"--lr-shrink must be in (0, 1], got {config.lr_shrink}")
        self.config = config
        self.best = math.inf
        self.bad_epochs = 0
        self.plateau_lr = base_lr
        super().__init__(optimizer, base_lr)

    def lr_at(self, num_updates: int) -> float:
        if self.config.warmup_updates and num_updates < self.config.warmup_updates:
            return self.plateau_lr * (num_updates + 1) / self.config.warmup_updates
        return self.plateau_lr

    def step_epoch(self, epoch: int, val_loss: float | None) -> float:
        """A loss below the best so far resets the count of bad epochs; otherwise the count grows,
        and once it exceeds --lr-patience the rate is multiplied by --lr-shrink and the count
        restarts. val_loss None (no validation) changes nothing."""
        if val_loss is None:
            return self.lr
        if val_loss < self.best:
            self.best, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.config.lr_patience:
                self.plateau_lr *= self.config.lr_shrink
                self.bad_epochs = 0
        return self.set_lr(self.plateau_lr)

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best, "bad_epochs": self.bad_epochs, "plateau_lr": self.plateau_lr}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.plateau_lr = float(state["plateau_lr"])
        super().load_state_dict(state)
