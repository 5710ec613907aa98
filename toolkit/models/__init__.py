"""Architectures. Importing this package registers every family (explicitly, never by scanning)."""

from __future__ import annotations

from typing import Any

from toolkit.models import bytenet, fconv, rnn, transformer  # noqa: F401,E402  (registers each family's presets)
from toolkit.models.base import EncoderDecoderModel
from toolkit.registry import ARCHITECTURES, config_from_dict, config_to_dict


def model_config_to_dict(arch: str, config: Any) -> dict:
    """Plain-data form of a model config, with the registered family name, for checkpoints."""
    entry = ARCHITECTURES.get(arch)
    return {"arch": arch, "family": entry.name, "params": config_to_dict(config)}


def build_model(
    model_config: dict, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
) -> EncoderDecoderModel:
    """Rebuild a model from the plain-data config stored in a checkpoint."""
    entry = ARCHITECTURES.get(model_config["family"])
    config = config_from_dict(entry.config_cls, model_config["params"])
    return entry.cls.build(config, src_vocab_size, tgt_vocab_size, pad_index, eos_index)


__all__ = ["EncoderDecoderModel", "build_model", "model_config_to_dict"]
