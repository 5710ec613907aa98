"""Checkpoint averaging: pick the checkpoints, check they match, average their weights.

Float tensors are averaged in float64 and cast back to their dtype; integer buffers
are taken from the last checkpoint, as are config, dictionaries and text processors.
Optimizer, scheduler and trainer state are dropped: an average is for inference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from toolkit.config import option
from toolkit.errors import UserError
from toolkit.quantize.checkpoint import refuse_quantized
from toolkit.train.checkpoint import load_checkpoint

_EPOCH = re.compile(r"^checkpoint(\d+)\.pt$")
_UPDATE = re.compile(r"^checkpoint_(\d+)_(\d+)\.pt$")
DROPPED = ("optimizer", "lr_scheduler", "trainer_state")
ADVICE = "average the float checkpoints, then quantize the average"


@dataclass
class AverageConfig:
    """Every `nmt average-checkpoints` option."""

    inputs: list[str] = option(
        help="a checkpoint directory (with --num-*-checkpoints), or checkpoint files", nargs="+", metavar="PATH"
    )
    output: str = option(help="where to write the averaged checkpoint (atomically)", metavar="FILE")
    num_epoch_checkpoints: int | None = option(None, "average the last N checkpointEPOCH.pt")
    num_update_checkpoints: int | None = option(None, "average the last N checkpoint_E_U.pt")

    def validate(self) -> None:
        if self.num_epoch_checkpoints is not None and self.num_update_checkpoints is not None:
            raise UserError("give only one of --num-epoch-checkpoints and --num-update-checkpoints")

    def checkpoints(self) -> list[Path]:
        """The files to average: the last N of one directory, or the files given."""
        paths = [Path(p) for p in self.inputs]
        if self.num_epoch_checkpoints is None and self.num_update_checkpoints is None:
            directories = [str(p) for p in paths if p.is_dir()]
            if directories:
                raise UserError(
                    f"{directories[0]} is a directory: add --num-epoch-checkpoints N or --num-update-checkpoints N"
                )
            return paths
        if len(paths) != 1 or not paths[0].is_dir():
            raise UserError("--num-epoch-checkpoints/--num-update-checkpoints need --inputs to be one directory")
        if self.num_epoch_checkpoints is not None:
            return last_epoch_checkpoints(paths[0], self.num_epoch_checkpoints)
        return last_update_checkpoints(paths[0], self.num_update_checkpoints)


def last_epoch_checkpoints(directory: Path, n: int) -> list[Path]:
    """The n files checkpointEPOCH.pt with the highest epochs, oldest first."""
    return _last(directory, n, _EPOCH, lambda m: int(m.group(1)), "checkpointEPOCH.pt")


def last_update_checkpoints(directory: Path, n: int) -> list[Path]:
    """The n files checkpoint_EPOCH_UPDATE.pt with the highest update counts, oldest first."""
    return _last(directory, n, _UPDATE, lambda m: int(m.group(2)), "checkpoint_EPOCH_UPDATE.pt")


def _last(directory: Path, n: int, pattern: re.Pattern, key, kind: str) -> list[Path]:
    if n < 1:
        raise UserError(f"the number of checkpoints to average must be at least 1 (got {n})")
    if not directory.is_dir():
        raise UserError(f"not a directory: {directory}")
    found = sorted((key(m), p) for p in directory.iterdir() if (m := pattern.match(p.name)))
    if len(found) < n:
        raise UserError(f"asked to average {n} checkpoints but {directory} has {len(found)} named {kind}")
    return [p for _, p in found[-n:]]


def _check_compatible(reference: dict, state: dict, ref_path: Path, path: Path) -> None:
    if reference["config"].get("model") != state["config"].get("model"):
        raise UserError(f"cannot average {path} with {ref_path}: different model configurations")
    if reference.get("dictionaries") != state.get("dictionaries"):
        raise UserError(f"cannot average {path} with {ref_path}: trained with different dictionaries")
    ref_model, model = reference["model"], state["model"]
    if set(ref_model) != set(model):
        diff = sorted(set(ref_model) ^ set(model))
        raise UserError(f"cannot average {path} with {ref_path}: different parameters ({', '.join(diff[:3])} ...)")
    for key, tensor in model.items():
        if tensor.shape != ref_model[key].shape:
            raise UserError(
                f"cannot average {path} with {ref_path}: {key} has shape "
                f"{tuple(tensor.shape)} vs {tuple(ref_model[key].shape)}"
            )


def average_model_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Average state dicts of identical layout (float64 accumulation; integers from the last)."""
    if not states:
        raise ValueError("nothing to average")
    last = states[-1]
    averaged = {}
    for key, tensor in last.items():
        if torch.is_floating_point(tensor):
            total = torch.zeros(tensor.shape, dtype=torch.float64)
            for state in states:
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(states)).to(tensor.dtype)
        else:
            averaged[key] = tensor.clone()
    return averaged


def average_checkpoints(paths: Sequence[Path]) -> dict:
    """One inference checkpoint whose weights are the mean of the given checkpoints'.

    Files are read one at a time and summed, so memory holds two models, not n.
    """
    if not paths:
        raise UserError("no checkpoints to average")
    first_path = Path(paths[0])
    reference = load_checkpoint(first_path)
    refuse_quantized(reference, first_path, ADVICE)
    sums = {k: v.to(torch.float64) if torch.is_floating_point(v) else v for k, v in reference["model"].items()}
    last = reference
    for path in paths[1:]:
        state = load_checkpoint(path)
        refuse_quantized(state, path, ADVICE)
        _check_compatible(reference, state, first_path, Path(path))
        for key, tensor in state["model"].items():
            sums[key] = sums[key] + tensor.to(torch.float64) if torch.is_floating_point(tensor) else tensor
        last = state
    model = {}
    for key, tensor in last["model"].items():
        model[key] = (sums[key] / len(paths)).to(tensor.dtype) if torch.is_floating_point(tensor) else tensor.clone()
    result = {k: v for k, v in last.items() if k not in DROPPED}
    result["model"] = model
    result["averaged_from"] = [str(p) for p in paths]
    return result
