"""Several models decoded as one: the average of their log-probabilities at every step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class Ensemble:
    """Wraps models that share a target vocabulary behind the single-model interface.

    Log-probabilities are averaged (a log-linear combination, the geometric mean of the models'
    distributions): a token any one model finds very unlikely stays unlikely, where fairseq's mean of
    probabilities lets one confident model outvote the rest. Attention is the mean over the models
    that return one. Language ids reach a model only when they are set, so models whose
    `encode`/`decode_step` predate the `src_lang`/`tgt_lang` arguments still ensemble.
    """

    def __init__(self, models: Sequence[Any]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.models = list(models)
        first = self.models[0]
        self.pad_index, self.eos_index = first.pad_index, first.eos_index

    def __len__(self) -> int:
        return len(self.models)

    def max_positions(self) -> tuple[int, int]:
        limits = [m.max_positions() for m in self.models]
        return (min(s for s, _ in limits), min(t for _, t in limits))

    def encode(self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None) -> list:
        lang = _only_if_set(src_lang=src_lang)
        return [m.encode(src_tokens, src_lengths, **lang) for m in self.models]

    def decode_step(
        self,
        prev_tokens: torch.Tensor,
        encoder_outs: list,
        states: list | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, list]:
        states = states or [None] * len(self.models)
        lang = _only_if_set(tgt_lang=tgt_lang)
        lprobs, attns, new_states = [], [], []
        for model, enc, state in zip(self.models, encoder_outs, states, strict=True):
            lp, attn, state = model.decode_step(prev_tokens, enc, state, need_attn=need_attn, **lang)
            lprobs.append(lp.float())
            if attn is not None:
                attns.append(attn.float())
            new_states.append(state)
        if len(lprobs) == 1:
            combined = lprobs[0]
        else:
            combined = torch.stack(lprobs).mean(0)
        attn = torch.stack(attns).mean(0) if attns else None
        return combined, attn, new_states

    def reorder_encoder_out(self, encoder_outs: list, order: torch.Tensor) -> list:
        return [m.reorder_encoder_out(enc, order) for m, enc in zip(self.models, encoder_outs, strict=True)]

    def reorder_state(self, states: list, order: torch.Tensor) -> list:
        return [m.reorder_state(s, order) for m, s in zip(self.models, states, strict=True)]


def _only_if_set(**kwargs: torch.Tensor | None) -> dict[str, torch.Tensor]:
    return {name: value for name, value in kwargs.items() if value is not None}
