"""Optimizers: thin typed wrappers over torch.optim."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.config import option
from toolkit.registry import OPTIMIZERS


@dataclass
class AdamConfig:
    lr: float = option(5e-4, "peak learning rate (reached after warmup)")
    adam_betas: str = option("0.9,0.98", "Adam beta1,beta2")
    adam_eps: float = option(1e-8, "Adam epsilon")
    weight_decay: float = option(0.0, "decoupled weight decay (AdamW)")


@dataclass
class SGDConfig:
    lr: float = option(0.1, "learning rate")
    momentum: float = option(0.0, "momentum factor (0: plain SGD)")
    weight_decay: float = option(0.0, "L2 penalty")


def _betas(text: str) -> tuple[float, float]:
    try:
        b1, b2 = (float(x) for x in text.strip("()[] ").split(","))
    except ValueError:
        raise ValueError(f"--adam-betas must be two numbers like 0.9,0.98, got {text!r}") from None
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"--adam-betas must lie in [0, 1), got {text!r}")
    return b1, b2


def _check_lr(lr: float) -> None:
    if not lr > 0:
        raise ValueError(f"--lr must be positive, got {lr}")


@OPTIMIZERS.register("adam", config=AdamConfig)
def build_adam(config: AdamConfig, params) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay (AdamW, as fairseq's adam)."""
    _check_lr(config.lr)
    # foreach keeps the update to a few vectorised kernels per step.
    return torch.optim.AdamW(
        params,
        lr=config.lr,
        betas=_betas(config.adam_betas),
        eps=config.adam_eps,
        weight_decay=config.weight_decay,
        foreach=True,
    )


@OPTIMIZERS.register("sgd", config=SGDConfig)
def build_sgd(config: SGDConfig, params) -> torch.optim.Optimizer:
    """Stochastic gradient descent with optional momentum."""
    _check_lr(config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


@dataclass
class NAGConfig:
    lr: float = 0.25
    momentum: float = 0.99
    weight_decay: float = 0.0


@OPTIMIZERS.register("nag", config=NAGConfig)
def build_nag(config: NAGConfig, params) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (the ConvS2S optimizer)."""
    _check_lr(config.lr)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )
