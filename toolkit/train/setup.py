"""Everything a training run is made of, built from typed configs (filled by the CLI)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import UserError
from toolkit.registry import ARCHITECTURES, CRITERIONS, OPTIMIZERS, SCHEDULERS, TASKS, config_to_dict
from toolkit.train.config import TrainConfig


@dataclass
class TrainingSetup:
    """The complete configuration of a run; stored in every checkpoint as plain data."""

    train: TrainConfig
    task: Any
    model: Any
    criterion: Any
    optimizer: Any
    lr_scheduler: Any

    def to_dict(self) -> dict:
        arch_entry = ARCHITECTURES.get(self.train.arch)
        return {
            "train": config_to_dict(self.train),
            "task": {"name": self.train.task, "params": config_to_dict(self.task)},
            "model": {"arch": self.train.arch, "family": arch_entry.name, "params": config_to_dict(self.model)},
            "criterion": {"name": self.train.criterion, "params": config_to_dict(self.criterion)},
            "optimizer": {"name": self.train.optimizer, "params": config_to_dict(self.optimizer)},
            "lr_scheduler": {"name": self.train.lr_scheduler, "params": config_to_dict(self.lr_scheduler)},
        }


def import_user_dir(path: str | None) -> None:
    """Import a user's module or package so its components register themselves."""
    if not path:
        return
    target = Path(path).resolve()
    if not target.exists():
        raise UserError(f"--user-dir not found: {path}")
    init = target / "__init__.py" if target.is_dir() else target
    if not init.is_file():
        raise UserError(f"--user-dir {path}: expected a .py file or a package with __init__.py")
    name = f"nmt_user_{target.stem}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(target)] if target.is_dir() else None
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    return device


_TASK_METHODS = (
    "build_model", "describe_training", "epoch_plan", "valid_plan", "batch", "train_step", "valid_step",
    "reduce_logs", "valid_metrics", "state_dict", "load_state_dict", "checkpoint_data", "load_split", "dictionary",
    "text_processor", "config",
)  # fmt: skip


def build_components(setup: TrainingSetup, device: torch.device):
    """Task, model, criterion, optimizer and schedule, each from its registry."""
    from toolkit.tasks.base import Task

    task = TASKS.get(setup.train.task).cls(setup.task)
    if not isinstance(task, Task):
        missing = [name for name in _TASK_METHODS if not hasattr(task, name)]
        raise UserError(f"task {setup.train.task!r} lacks {', '.join(missing)} (see toolkit/tasks/base.py)")
    entry = ARCHITECTURES.get(setup.train.arch)
    try:
        model = task.build_model(entry.cls, setup.model)
        criterion = CRITERIONS.get(setup.train.criterion).cls(setup.criterion)
        model.to(device)
        optimizer = OPTIMIZERS.get(setup.train.optimizer).cls(
            setup.optimizer, [p for p in model.parameters() if p.requires_grad]
        )
        scheduler = SCHEDULERS.get(setup.train.lr_scheduler).cls(setup.lr_scheduler, optimizer, setup.optimizer.lr)
    except ValueError as error:
        raise UserError(str(error)) from None
    return task, model, criterion, optimizer, scheduler
