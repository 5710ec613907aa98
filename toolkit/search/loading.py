"""Load one checkpoint or an ensemble (`a.pt:b.pt`) for inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import UserError, note
from toolkit.hardware import usable_bf16
from toolkit.train.checkpoint import load_model_for_inference

QUANTIZATIONS = ("int8",)


@dataclass
class InferenceModels:
    """Models of one direction sharing one pair of dictionaries, with the first checkpoint's preprocessing."""

    models: list[Any]
    paths: list[Path]
    src_dict: Any
    tgt_dict: Any
    config: dict
    text_processors: dict | None
    device: torch.device
    src_lang: str = ""
    tgt_lang: str = ""
    languages: dict = field(default_factory=dict)
    quantization: str | None = None  # "int8" when any model computes with int8 weights (on the CPU)

    def langs(self) -> tuple[str, str]:
        """(source, target) languages of the direction being translated."""
        return self.src_lang, self.tgt_lang

    def search_arguments(self, batch_size: int) -> dict:
        """The per-sentence search inputs this direction needs (language ids, a decoder start token).

        A checkpoint that records `ids` gives the models its languages' ids; one that records a
        `decoder_start` symbol for the target language starts every hypothesis with it.
        """
        arguments = {}
        ids = self.languages.get("ids") or {}
        for name, lang in (("src_lang", self.src_lang), ("tgt_lang", self.tgt_lang)):
            if lang in ids:
                arguments[name] = torch.full((batch_size,), int(ids[lang]), dtype=torch.long, device=self.device)
        start = (self.languages.get("decoder_start") or {}).get(self.tgt_lang)
        if start:
            index = self.tgt_dict.index(start)
            if index == self.tgt_dict.unk_index:
                raise UserError(f"{self.paths[0]}: decoder start symbol {start} is not in the target dictionary")
            arguments["bos_tokens"] = torch.full((batch_size,), index, dtype=torch.long, device=self.device)
        return arguments


def pick_device(cpu: bool = False) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def split_paths(spec: str) -> list[Path]:
    paths = [Path(p) for p in spec.split(":") if p]
    if not paths:
        raise UserError("--path needs at least one checkpoint")
    return paths


def load_models(
    spec: str, device: torch.device, source_lang: str = "", target_lang: str = "", quantize: str | None = None
) -> InferenceModels:
    """Load every checkpoint of `spec` (colon-separated) for one direction; they must share dictionaries.

    The direction is the first checkpoint's trained one unless --source-lang/--target-lang
    choose another it records; the other checkpoints must translate that direction too.
    quantize="int8" quantizes float checkpoints at load time; int8 checkpoints load as int8 in
    any case. int8 models run on the CPU: on a GPU machine they move there, with a note.
    """
    paths = split_paths(spec)
    first = load_model_for_inference(paths[0], source_lang, target_lang, quantize)
    loaded = [first] + [load_model_for_inference(p, first.src_lang, first.tgt_lang, quantize) for p in paths[1:]]
    for other in loaded[1:]:
        if other.src_dict != first.src_dict or other.tgt_dict != first.tgt_dict:
            raise UserError(f"cannot ensemble {other.path} with {first.path}: their dictionaries differ")
    quantization = next((item.quantization for item in loaded if item.quantization), None)
    if quantization and device.type != "cpu":
        why = f"--quantize {quantize}" if quantize else f"{next(i.path for i in loaded if i.quantization)} is int8 and"
        note(f"{why} runs on the CPU only; using the CPU (as with --cpu), not {device}")
        device = torch.device("cpu")
    models = [item.model.to(device).eval() for item in loaded]
    return InferenceModels(
        models,
        paths,
        first.src_dict,
        first.tgt_dict,
        first.config,
        first.text_processors,
        device,
        first.src_lang,
        first.tgt_lang,
        first.languages,
        quantization,
    )


def inference_bf16(requested: bool, models: InferenceModels) -> bool:
    """--bf16 where it pays: not with int8 models, whose matrix products are int8 already (said in a note)."""
    if requested and models.quantization:
        note(
            f"--bf16 is ignored with {models.quantization}: the matrix products are {models.quantization}, "
            "and what remains (attention over the cache, norms, softmax) runs in fp32"
        )
        return False
    return usable_bf16(requested, models.device)
