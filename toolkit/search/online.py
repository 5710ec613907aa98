"""Translation inside a training step (online back-translation): batched, on the device, no host copies.

The beam search (toolkit/search/generator.py) returns ranked hypotheses per sentence as host
objects, which is right for `nmt generate` and too slow to run every update. This decoder keeps
one hypothesis per sentence, greedy or sampled, as one (B, T) tensor from the first step to the
last; the only host read per step is whether every sentence has finished. It never emits padding,
the start symbol or reserved symbols (`<mask>`, language tags), and never an empty sentence.

Sampling draws from the counter-based hash of toolkit/data/noise.py (Gumbel-max on (seed, update,
sentence, step, symbol)), so a resumed run samples what the uninterrupted one did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.data.noise import uniform

_GUMBEL = 0x0B7A11


@dataclass(frozen=True)
class OnlineSearch:
    sampling: bool = False
    temperature: float = 1.0
    max_len_a: float = 1.3
    max_len_b: int = 5


@torch.no_grad()
def translate_batch(
    model,
    src_tokens: torch.Tensor,
    src_lengths: torch.Tensor,
    start: int,
    banned: torch.Tensor,
    search: OnlineSearch,
    src_lang: torch.Tensor | None = None,
    tgt_lang: torch.Tensor | None = None,
    sentence_ids: torch.Tensor | None = None,
    seed: int = 1,
    update: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, T) right-padded, each row ending with EOS; lengths (B,) with the EOS) for a batch of sources.

    start: the decoder's first input (EOS or a language tag); banned: (V,) bool of symbols never
    produced. The caller puts the model in eval mode (no dropout) and back afterwards.
    """
    bsz, device = src_tokens.size(0), src_tokens.device
    pad, eos = model.pad_index, model.eos_index
    encoder_out = model.encode(src_tokens, src_lengths, **({} if src_lang is None else {"src_lang": src_lang}))
    # As in `nmt generate`: at most floor(a * |x| + b) tokens, then EOS.
    limits = (search.max_len_a * src_lengths.to(device).double() + search.max_len_b).long().clamp(min=1)
    steps = int(limits.max()) + 1
    ids = (sentence_ids if sentence_ids is not None else torch.arange(bsz)).to(device).long()[:, None]
    tokens = torch.full((bsz, steps + 1), pad, dtype=torch.long, device=device)
    tokens[:, 0] = start
    finished = torch.zeros(bsz, dtype=torch.bool, device=device)
    lengths = torch.zeros(bsz, dtype=torch.long, device=device)
    banned = banned.to(device)
    state = None
    language = {} if tgt_lang is None else {"tgt_lang": tgt_lang}
    for step in range(steps):
        log_probs, _, state = model.decode_step(tokens[:, : step + 1], encoder_out, state, need_attn=False, **language)
        log_probs = log_probs.masked_fill(banned, -torch.inf)
        if step == 0:
            log_probs[:, eos] = -torch.inf  # no empty translation
        last = step >= limits  # as long as allowed: EOS now
        if search.sampling:
            vocab = log_probs.size(1)
            symbols = torch.arange(vocab, device=device)[None, :] + step * vocab
            noise = uniform(seed, update, ids, symbols, _GUMBEL).clamp(min=1e-7)
            choice = (log_probs / search.temperature - torch.log(-torch.log(noise))).argmax(1)
        else:
            choice = log_probs.argmax(1)
        choice = torch.where(last, torch.full_like(choice, eos), choice)
        choice = torch.where(finished, torch.full_like(choice, pad), choice)
        tokens[:, step + 1] = choice
        newly = ~finished & choice.eq(eos)
        lengths = torch.where(newly, torch.full_like(lengths, step + 1), lengths)
        finished |= newly
        if bool(finished.all()):
            break
    width = int(lengths.max())
    return tokens[:, 1 : width + 1].contiguous(), lengths
