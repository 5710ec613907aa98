"""Self-describing, versioned checkpoints, written atomically and loaded safely.

A checkpoint is plain data (dicts, lists, numbers, strings, tensors) so that
`torch.load(..., weights_only=True)` can read it; nothing is unpickled.

    {format_version, nmt_version, config: {model, criterion, optimizer, lr_scheduler, train, task},
     dictionaries: {src, tgt}, text_processors: {src, tgt} | None,
     model, optimizer, lr_scheduler, trainer_state}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toolkit import __version__
from toolkit.errors import UserError
from toolkit.fileio import atomic_path

FORMAT_VERSION = 1


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write atomically: a kill during the write leaves the previous file intact."""
    state = dict(state)
    state.setdefault("format_version", FORMAT_VERSION)
    state.setdefault("nmt_version", __version__)
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except OSError as error:  # a full disk, a vanished directory: the previous file is intact
        raise UserError(f"could not write checkpoint {path}: {error.strerror or error}") from None


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint on the CPU, with one clear UserError for anything wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated, or not a torch file at all
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: not a readable nmt checkpoint ({reason[:200]})") from None
    if not isinstance(state, dict) or "format_version" not in state or "config" not in state:
        raise UserError(f"{path}: not an nmt checkpoint (no format_version/config)")
    if state["format_version"] > FORMAT_VERSION:
        raise UserError(
            f"{path}: checkpoint format {state['format_version']} is newer than this nmt supports ({FORMAT_VERSION})"
        )
    return state


@dataclass
class LoadedModel:
    """Everything inference needs, rebuilt from one checkpoint file."""

    path: Path
    model: Any
    src_dict: Any
    tgt_dict: Any
    config: dict
    text_processors: dict | None


def load_model_for_inference(path: str | os.PathLike) -> LoadedModel:
    """Rebuild model, dictionaries and preprocessing from a checkpoint alone."""
    from toolkit.data.dictionary import Dictionary
    from toolkit.models import build_model

    state = load_checkpoint(path)
    try:
        src_dict = Dictionary.from_state(state["dictionaries"]["src"])
        tgt_dict = Dictionary.from_state(state["dictionaries"]["tgt"])
        model = build_model(
            state["config"]["model"], len(src_dict), len(tgt_dict), tgt_dict.pad_index, tgt_dict.eos_index
        )
        model.load_state_dict(state["model"])
    except UserError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: incompatible checkpoint ({reason[:200]})") from None
    model.eval()
    processors = None
    if state.get("text_processors"):
        from toolkit.data.text_processor import TextProcessor

        processors = {side: TextProcessor.from_state(s) for side, s in state["text_processors"].items()}
    return LoadedModel(Path(path), model, src_dict, tgt_dict, state["config"], processors)
