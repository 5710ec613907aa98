"""Self-describing, versioned checkpoints, written atomically and loaded safely.

A checkpoint is plain data (dicts, lists, numbers, strings, tensors) so that
`torch.load(..., weights_only=True)` can read it; nothing is unpickled.

    {format_version, nmt_version, config: {model, criterion, optimizer, lr_scheduler, train, task},
     languages: {source, target, directions: [[src, tgt], ...], ids?, decoder_start?},
     dictionaries: {LANG: ...}, text_processors: {LANG: ...} | None,
     model, optimizer, lr_scheduler, trainer_state}

An int8 checkpoint (`nmt quantize`, toolkit/quantize/checkpoint.py) holds its weights under
`int8` (int8 matrices and their scales) instead of `model`, and no trainer state.

Format 1 (before the task seam) keyed dictionaries and processors by side ({src, tgt})
and named the languages only in config.task.params; it still loads (`languages_of`).
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

FORMAT_VERSION = 2


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


def languages_of(state: dict) -> tuple[dict, dict, dict]:
    """(languages, dictionaries by language, text processor states by language) of a checkpoint."""
    processors = state.get("text_processors") or {}
    if "languages" in state:
        return state["languages"], state["dictionaries"], processors
    # Format 1: sides src/tgt; the languages were recorded in the task's config.
    params = (state["config"].get("task") or {}).get("params") or {}
    src, tgt = params.get("source_lang") or "src", params.get("target_lang") or "tgt"
    if src == tgt:
        src, tgt = "src", "tgt"
    rename = {"src": src, "tgt": tgt}
    languages = {"source": src, "target": tgt, "directions": [[src, tgt]]}
    dictionaries = {rename[side]: d for side, d in state["dictionaries"].items()}
    return languages, dictionaries, {rename[side]: p for side, p in processors.items()}


def choose_direction(path: Path, languages: dict, source: str = "", target: str = "") -> tuple[str, str]:
    """The direction --source-lang/--target-lang ask for among the checkpoint's; the trained one by default."""
    directions = [tuple(d) for d in languages.get("directions") or [[languages["source"], languages["target"]]]]
    default = (languages["source"], languages["target"])
    if not source and not target:
        return default
    matching = [d for d in directions if (not source or d[0] == source) and (not target or d[1] == target)]
    if default in matching:
        return default
    if len(matching) >= 1:
        return matching[0]
    known = ", ".join(f"{a} -> {b}" for a, b in directions)
    flags = (source and f"--source-lang {source}", target and f"--target-lang {target}")
    asked = " ".join(flag for flag in flags if flag)
    raise UserError(f"{asked}: {path} translates {known}")


@dataclass
class LoadedModel:
    """Everything inference needs for one direction, rebuilt from one checkpoint file."""

    path: Path
    model: Any
    src_lang: str
    tgt_lang: str
    src_dict: Any
    tgt_dict: Any
    config: dict
    text_processors: dict | None  # {"src": TextProcessor, "tgt": TextProcessor} of this direction
    languages: dict  # all the checkpoint records (directions, ids, decoder_start)
    quantization: str | None = None  # "int8": the model computes with int8 weights (CPU only)


def load_model_for_inference(
    path: str | os.PathLike, source_lang: str = "", target_lang: str = "", quantize: str | None = None
) -> LoadedModel:
    """Rebuild model, dictionaries and preprocessing of one direction from a checkpoint alone.

    An int8 checkpoint (`nmt quantize`) loads as an int8 model; quantize="int8" quantizes a float
    checkpoint's model the same way at load time (the same weights as its int8 checkpoint).
    """
    path = Path(path)
    return model_from_state(load_checkpoint(path), path, source_lang, target_lang, quantize)


def model_from_state(
    state: dict, path: Path, source_lang: str = "", target_lang: str = "", quantize: str | None = None
) -> LoadedModel:
    """`load_model_for_inference` of an already loaded checkpoint `state` (read from `path`)."""
    from toolkit.data.dictionary import Dictionary
    from toolkit.models import build_model
    from toolkit.quantize.checkpoint import int8_weights, quantization_of
    from toolkit.quantize.model import int8_model, quantize_model

    stored = quantization_of(state)
    task = ((state.get("config") or {}).get("task") or {}).get("name")
    if task == "masked_lm":
        raise UserError(f"{path}: a masked-LM checkpoint (--task masked_lm) does not translate; start a model from it "
                        "with nmt train --init-from")  # fmt: skip
    try:
        languages, dictionaries, processor_states = languages_of(state)
        src, tgt = choose_direction(path, languages, source_lang, target_lang)
        src_dict = Dictionary.from_state(dictionaries[src])
        tgt_dict = Dictionary.from_state(dictionaries[tgt])
        model = build_model(
            state["config"]["model"], len(src_dict), len(tgt_dict), tgt_dict.pad_index, tgt_dict.eos_index
        )
        if stored:
            model = int8_model(model, *int8_weights(state))
        else:
            model.load_state_dict(state["model"])
            if quantize == "int8":
                model = quantize_model(model)
    except UserError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: incompatible checkpoint ({reason[:200]})") from None
    model.eval()
    processors = None
    if processor_states:
        from toolkit.data.text_processor import TextProcessor

        processors = {
            side: TextProcessor.from_state(processor_states[lang])
            for side, lang in (("src", src), ("tgt", tgt))
            if lang in processor_states
        }
    quantization = stored or quantize
    return LoadedModel(path, model, src, tgt, src_dict, tgt_dict, state["config"], processors, languages, quantization)
