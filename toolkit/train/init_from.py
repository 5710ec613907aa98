"""--init-from CKPT (fairseq's --finetune-from-model): start a new model from a checkpoint's weights.

Every parameter and buffer of the model is looked up in the checkpoint's "model" weights:

1. under its own name;
2. else through --init-from-map, rule by rule in the order given: a rule `MODEL=CKPT` renames a
   model name starting with MODEL to one starting with CKPT (`*` stands for one dotted component,
   e.g. a layer number, and is carried over to the same `*` on the right).

The first of these names the checkpoint has decides: equal shapes load, different shapes are
reported as mismatches and left at their initialization; a name with none stays at its
initialization. So a mapping only fills what the checkpoint lacks under the model's own name:
to put a pretrained encoder into the decoder as well (XLM), init from a checkpoint that holds the
encoder alone. The preset `xlm` is that mapping for the transformer: embeddings, positions, self-
attention, feed-forward and their layer norms of the decoder from the encoder (layer i from layer
i); cross-attention (and a separate output projection) stay at their initialization.

Only weights are taken: optimizer, schedule and counters start afresh.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from toolkit.errors import UserError
from toolkit.quantize.checkpoint import refuse_quantized
from toolkit.train.checkpoint import load_checkpoint

NameMap = list[tuple[str, str]]

XLM_MAPPING: tuple[tuple[str, str], ...] = (
    ("decoder_embed.", "encoder_embed."),
    ("decoder_positions.", "encoder_positions."),
    ("decoder_lang_embed.", "encoder_lang_embed."),  # language embeddings, when the models have them
    ("decoder_layers.*.self_block.", "encoder_layers.*.attn_block."),  # the norm after self-attention
    ("decoder_layers.", "encoder_layers."),  # self_attn, ffn, ffn_block: the same names in both
    ("decoder_norm.", "encoder_norm."),
)
PRESETS = {"xlm": XLM_MAPPING}


def parse_mapping(text: str | None) -> NameMap:
    """'A=B,C.*.d=E.*.f,xlm' -> [(A, B), (C.*.d, E.*.f), *XLM_MAPPING]; '' or 'none' -> []."""
    rules: NameMap = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item or item.lower() == "none":
            continue
        if item.lower() in PRESETS:
            rules.extend(PRESETS[item.lower()])
            continue
        left, sep, right = (part.strip() for part in item.partition("="))
        if not sep or not left or not right:
            raise UserError(f"--init-from-map: {item!r} is not MODEL_PREFIX=CHECKPOINT_PREFIX (or a preset: xlm)")
        if left.count("*") != right.count("*"):
            raise UserError(f"--init-from-map: {item!r} has a different number of * on each side")
        rules.append((left, right))
    return rules


def _rule_pattern(left: str) -> re.Pattern:
    pattern = "([^.]+)".join(re.escape(part) for part in left.split("*"))
    return re.compile("^" + pattern + ("" if left.endswith(".") else r"(?=\.|$)"))


def _renamed(name: str, rules: Sequence[tuple[re.Pattern, str]]) -> list[str]:
    """The checkpoint names the rules give for a model name, in rule order."""
    names = []
    for pattern, right in rules:
        match = pattern.match(name)
        if match:
            parts = right.split("*")
            target = parts[0] + "".join(g + p for g, p in zip(match.groups(), parts[1:], strict=True))
            names.append(target + name[match.end() :])
    return names


@dataclass
class InitReport:
    path: str
    loaded: dict[str, str] = field(default_factory=dict)  # model name -> the checkpoint name it came from
    left: list[str] = field(default_factory=list)  # model names the checkpoint has nothing for
    mismatched: list[tuple[str, str, tuple, tuple]] = field(default_factory=list)  # (model, ckpt, shapes)
    unused: list[str] = field(default_factory=list)  # checkpoint names nothing was loaded from

    @property
    def mapped(self) -> dict[str, str]:
        return {name: source for name, source in self.loaded.items() if name != source}

    def summary(self) -> str:
        """One line: how much was loaded, what was left at its initialization and why."""
        through = f" ({len(self.mapped)} through --init-from-map)" if self.mapped else ""
        left = f" ({group_names(self.left)})" if self.left else ""
        mismatched = f" ({group_names([m[0] for m in self.mismatched])})" if self.mismatched else ""
        return (
            f"init-from {self.path}: loaded {len(self.loaded)} tensors{through}, {len(self.left)} left at "
            f"their initialization{left}, {len(self.mismatched)} shape mismatches{mismatched}"
        )


def group_names(names: Sequence[str], limit: int = 4) -> str:
    """Names shortened for one line: layer numbers as *, at most 3 components, then .*; deduplicated."""
    groups: list[str] = []
    for name in names:
        parts = ["*" if part.isdigit() else part for part in name.split(".")]
        short = ".".join(parts[:3]) + (".*" if len(parts) > 3 else "")
        if short not in groups:
            groups.append(short)
    return ", ".join(groups[:limit]) + (", ..." if len(groups) > limit else "")


def initialize_from(
    model: torch.nn.Module, path: str | os.PathLike, mapping: str | Sequence[tuple[str, str]] | None = None
) -> InitReport:
    """Copy into `model` every tensor the checkpoint at `path` has for it (see the module docstring)."""
    state = load_checkpoint(path)
    refuse_quantized(state, path, "--init-from needs the float checkpoint")
    weights = state.get("model")
    if not isinstance(weights, dict) or not weights:
        raise UserError(f"--init-from {path}: the checkpoint holds no model weights")
    rules = [(_rule_pattern(left), right) for left, right in _rules(mapping)]
    report = InitReport(str(path))
    chosen: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        source = next((c for c in [name, *_renamed(name, rules)] if c in weights), None)
        if source is None:
            report.left.append(name)
        elif not isinstance(weights[source], torch.Tensor) or weights[source].shape != tensor.shape:
            shape = tuple(getattr(weights[source], "shape", ()))
            report.mismatched.append((name, source, tuple(tensor.shape), shape))
        else:
            report.loaded[name] = source
            chosen[name] = weights[source]
    if not chosen:
        detail = f" ({len(report.mismatched)} by name only, shapes differ)" if report.mismatched else ""
        raise UserError(f"--init-from {path}: no tensor of the model is in the checkpoint{detail}")
    used = set(report.loaded.values())
    report.unused = [name for name in weights if name not in used]
    model.load_state_dict(chosen, strict=False)
    return report


def _rules(mapping: str | Sequence[tuple[str, str]] | None) -> NameMap:
    if mapping is None:
        return []
    if isinstance(mapping, str):
        return parse_mapping(mapping)
    return list(mapping)
