"""A tiny seeded recurrent model implementing the incremental-decoding interface.

Its next-token distribution depends on the whole prefix (through a recurrent state) and
on the source (through attention), and it treats right-padding correctly, so search
invariants (batched == unbatched, beam == brute force) can be checked exactly. It has no
language embeddings: src_lang/tgt_lang are accepted and ignored, as the interface allows.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.models.base import EncoderDecoderModel


class ToyModel(EncoderDecoderModel):
    def __init__(
        self, vocab: int = 6, dim: int = 8, seed: int = 0, sharpness: float = 3.0, max_target: int = 1024
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.pad_index, self.eos_index = 1, 2
        self.src_embed = nn.Parameter(torch.randn(vocab, dim, generator=gen))
        self.tgt_embed = nn.Parameter(torch.randn(vocab, dim, generator=gen))
        self.w_in = nn.Parameter(torch.randn(dim, dim, generator=gen) / dim**0.5)
        self.w_rec = nn.Parameter(torch.randn(dim, dim, generator=gen) / dim**0.5)
        self.w_out = nn.Parameter(torch.randn(dim, vocab, generator=gen) * sharpness / dim**0.5)
        self.max_target = max_target

    def max_positions(self) -> tuple[int, int]:
        return (1024, self.max_target)

    def encode(self, src_tokens, src_lengths, src_lang=None):
        mask = src_tokens.ne(self.pad_index)
        src = self.src_embed[src_tokens] * mask.unsqueeze(-1)
        ctx = src.sum(1) / mask.sum(1, keepdim=True)
        return {"src": src, "mask": mask, "ctx": ctx}

    def decode_step(self, prev_tokens, encoder_out, state, need_attn=True, tgt_lang=None):
        src, mask = encoder_out["src"], encoder_out["mask"]
        h = state["h"] if state is not None else torch.zeros_like(encoder_out["ctx"])
        x = self.tgt_embed[prev_tokens[:, -1]]
        h = torch.tanh(x @ self.w_in + h @ self.w_rec + encoder_out["ctx"])
        weights = torch.einsum("bsd,bd->bs", src, h).masked_fill(~mask, float("-inf"))
        attn = torch.softmax(weights, dim=-1)
        context = torch.einsum("bs,bsd->bd", attn, src)
        lprobs = torch.log_softmax((h + context) @ self.w_out, dim=-1)
        return lprobs.float(), attn, {"h": h}


def make_batch(lengths: list[int], vocab: int = 6, seed: int = 1, pad: int = 1, eos: int = 2):
    """Right-padded random sources of the given lengths (each ending with EOS)."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    src = torch.full((len(lengths), width), pad, dtype=torch.long)
    for i, n in enumerate(lengths):
        src[i, : n - 1] = torch.randint(3, vocab, (n - 1,), generator=gen)
        src[i, n - 1] = eos
    return src, torch.tensor(lengths)
