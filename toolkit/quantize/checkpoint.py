"""int8 checkpoints: plain data that `torch.load(weights_only=True)` reads, marked as quantized.

An int8 checkpoint is an inference checkpoint (no optimizer, schedule or trainer state) whose
weights are under "int8" instead of "model":

    {format_version, nmt_version, config, languages, dictionaries, text_processors,
     int8: {scheme: "int8-per-row-symmetric", quantized_from: PATH,
            weights: {name: tensor}, scales: {name: float32 (rows,)}}}

`weights` is the model's state with every 2-D float tensor as int8 (one scale per row, in
`scales`); the other tensors are as they were. Keeping them out of "model" means an nmt that
does not know int8 checkpoints fails to load one instead of reading int8 values as weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from toolkit.config import option
from toolkit.errors import UserError

SCHEME = "int8-per-row-symmetric"
DROPPED = ("model", "optimizer", "lr_scheduler", "trainer_state")


@dataclass
class QuantizeConfig:
    """Every `nmt quantize` option."""

    checkpoint: str = option(help="a float checkpoint (checkpoint_best.pt, an average)", positional=True)
    output: str = option(help="the int8 checkpoint to write (atomically)", positional=True)


def quantization_of(state: dict) -> str | None:
    """`int8` for an int8 checkpoint, None for a float one."""
    return "int8" if isinstance(state.get("int8"), dict) else None


def refuse_quantized(state: dict, path: str | os.PathLike, advice: str) -> None:
    """One UserError line, ending in `advice`, when a command that needs float weights gets an int8 checkpoint."""
    if quantization_of(state):
        source = state["int8"].get("quantized_from")
        origin = f" (it was made from {source})" if source else ""
        raise UserError(f"{path} is an int8 inference checkpoint (nmt quantize); {advice}{origin}")


def int8_weights(state: dict) -> tuple[dict, dict]:
    """(weights, scales) of an int8 checkpoint."""
    section = state["int8"]
    if section.get("scheme") != SCHEME:
        raise ValueError(f"unknown int8 scheme {section.get('scheme')!r}")
    return section["weights"], section["scales"]


def quantize_checkpoint(state: dict, path: Path) -> dict:
    """The int8 checkpoint of the float checkpoint `state` read from `path` (checked by building its model)."""
    from toolkit.quantize.model import quantize_state
    from toolkit.train.checkpoint import model_from_state

    refuse_quantized(state, path, "it is quantized already")
    if not isinstance(state.get("model"), dict):
        raise UserError(f"{path}: the checkpoint holds no model weights")
    weights, scales = quantize_state(state["model"])
    result = {key: value for key, value in state.items() if key not in DROPPED}
    result["int8"] = {"scheme": SCHEME, "quantized_from": str(path), "weights": weights, "scales": scales}
    model_from_state(result, path)  # an incompatible checkpoint fails here, in one line
    return result


def weight_bytes(weights: dict[str, torch.Tensor]) -> int:
    """Bytes of the distinct tensor storages in a model state (tied weights counted once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in weights.values()}
    return sum(storages.values())


def quantize_file(cfg: QuantizeConfig) -> str:
    """`nmt quantize`: write the int8 checkpoint of cfg.checkpoint to cfg.output; the line to print."""
    from toolkit.train.checkpoint import load_checkpoint, save_checkpoint

    source, output = Path(cfg.checkpoint), Path(cfg.output)
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise UserError(f"{output} is the checkpoint being quantized; write the int8 checkpoint to another file")
    state = load_checkpoint(source)
    quantized = quantize_checkpoint(state, source)
    save_checkpoint(quantized, output)
    before, after = source.stat().st_size, output.stat().st_size
    return (
        f"wrote {output} (int8): {after / 1e6:.2f} MB on disk, {before / after:.1f}x smaller than {source} "
        f"({before / 1e6:.2f} MB; its fp32 weights alone {weight_bytes(state['model']) / 1e6:.2f} MB)"
    )
