"""The typed Batch the model and criterion see, and the collater that builds it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """One mini-batch. Shapes: B sentences, S source length, T target length.

    src_tokens (B, S) right-padded, each row ending with EOS; prev_output_tokens (B, T)
    is the target shifted right with EOS in front (teacher forcing); target (B, T).
    src_lang and tgt_lang, when a task sets them, are per-sentence language ids (B,) that
    models with language embeddings read (the source language for the encoder, the target
    language for the decoder); the others ignore them.
    """

    ids: torch.Tensor
    src_tokens: torch.Tensor
    src_lengths: torch.Tensor
    prev_output_tokens: torch.Tensor | None
    target: torch.Tensor | None
    ntokens: int
    nsentences: int
    src_lang: torch.Tensor | None = None
    tgt_lang: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            move(self.ids),
            move(self.src_tokens),
            move(self.src_lengths),
            move(self.prev_output_tokens),
            move(self.target),
            self.ntokens,
            self.nsentences,
            move(self.src_lang),
            move(self.tgt_lang),
        )


def _pad(sequences: list[np.ndarray], pad_index: int, shift_eos: int | None = None) -> torch.Tensor:
    """Right-pad into (B, L). With shift_eos, move the final EOS to the front (teacher forcing)."""
    width = max(len(s) for s in sequences)
    out = np.full((len(sequences), width), pad_index, dtype=np.int64)
    for row, seq in enumerate(sequences):
        if shift_eos is None:
            out[row, : len(seq)] = seq
        else:
            out[row, 0] = shift_eos
            out[row, 1 : len(seq)] = seq[:-1]
    return torch.from_numpy(out)


def collate(
    ids: list[int],
    sources: list[np.ndarray],
    targets: list[np.ndarray] | None,
    pad_index: int,
    eos_index: int,
) -> Batch:
    src_tokens = _pad(sources, pad_index)
    src_lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
    prev = target = None
    ntokens = 0
    if targets is not None:
        target = _pad(targets, pad_index)
        prev = _pad(targets, pad_index, shift_eos=eos_index)
        ntokens = int(sum(len(t) for t in targets))
    return Batch(torch.tensor(ids, dtype=torch.long), src_tokens, src_lengths, prev, target, ntokens, len(ids))
