"""Load one checkpoint or an ensemble (`a.pt:b.pt`) for inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import UserError
from toolkit.train.checkpoint import load_model_for_inference


@dataclass
class InferenceModels:
    """Models sharing one pair of dictionaries, with the preprocessing of the first checkpoint."""

    models: list[Any]
    paths: list[Path]
    src_dict: Any
    tgt_dict: Any
    config: dict
    text_processors: dict | None
    device: torch.device

    def langs(self) -> tuple[str, str]:
        """(source, target) language codes recorded at training time, or empty strings."""
        params = (self.config.get("task") or {}).get("params") or {}
        return params.get("source_lang", "") or "", params.get("target_lang", "") or ""


def pick_device(cpu: bool = False) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def split_paths(spec: str) -> list[Path]:
    paths = [Path(p) for p in spec.split(":") if p]
    if not paths:
        raise UserError("--path needs at least one checkpoint")
    return paths


def load_models(spec: str, device: torch.device) -> InferenceModels:
    """Load every checkpoint of `spec` (colon-separated) and check they share dictionaries."""
    paths = split_paths(spec)
    loaded = [load_model_for_inference(p) for p in paths]
    first = loaded[0]
    for other in loaded[1:]:
        if other.src_dict != first.src_dict or other.tgt_dict != first.tgt_dict:
            raise UserError(f"cannot ensemble {other.path} with {first.path}: their dictionaries differ")
    models = [item.model.to(device).eval() for item in loaded]
    return InferenceModels(models, paths, first.src_dict, first.tgt_dict, first.config, first.text_processors, device)
