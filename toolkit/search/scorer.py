"""Score given target sentences (teacher forcing through the incremental interface)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from toolkit.search.ensemble import Ensemble
from toolkit.search.generator import per_sentence
from toolkit.search.hypothesis import Hypothesis, hard_alignment
from toolkit.search.length_penalty import normalize_score


@torch.no_grad()
def score_targets(
    models: Any | Sequence[Any],
    src_tokens: torch.Tensor,
    src_lengths: torch.Tensor,
    target: torch.Tensor,
    lenpen: float = 1.0,
    *,
    bos_tokens: torch.Tensor | None = None,
    src_lang: torch.Tensor | None = None,
    tgt_lang: torch.Tensor | None = None,
) -> list[Hypothesis]:
    """Log-probability of each target row under the model(s), as a Hypothesis.

    target (B, T) right-padded, each row ending with EOS. Uses decode_step so that what
    is scored is exactly what search would have computed for the same tokens: give it the
    `bos_tokens`, `src_lang` and `tgt_lang` (each (B,) or None) that `generate` was given.
    The decoder's inputs are the start token (bos_tokens, else EOS) then target[:, :-1].
    """
    model = (
        models if isinstance(models, Ensemble) else Ensemble(models if isinstance(models, (list, tuple)) else [models])
    )
    pad, eos = model.pad_index, model.eos_index
    bsz, tgt_len = target.shape
    start = per_sentence("bos_tokens", bos_tokens, bsz, target.device)
    start = target.new_full((bsz, 1), eos) if start is None else start.to(target.dtype).unsqueeze(1)
    prev = torch.cat([start, target[:, :-1]], dim=1)
    enc = model.encode(src_tokens, src_lengths, src_lang=per_sentence("src_lang", src_lang, bsz, src_tokens.device))
    tgt_lang = per_sentence("tgt_lang", tgt_lang, bsz, target.device)
    state = None
    token_scores, attns = [], []
    for t in range(tgt_len):
        lprobs, attn, state = model.decode_step(prev[:, : t + 1], enc, state, tgt_lang=tgt_lang)
        token_scores.append(lprobs.float().gather(1, target[:, t : t + 1]).squeeze(1))
        attns.append(attn.float() if attn is not None else None)
    positional = torch.stack(token_scores, dim=1)  # (B, T)
    lengths = target.ne(pad).sum(1)
    results = []
    for i in range(bsz):
        n = int(lengths[i])
        pos = positional[i, :n].cpu()
        hyp_attn = None
        if attns and attns[0] is not None:
            hyp_attn = torch.stack([a[i] for a in attns[:n]])[:, : int(src_lengths[i])].cpu()
        results.append(
            Hypothesis(
                target[i, :n].cpu(),
                float(normalize_score(float(pos.sum()), n, lenpen)),
                pos,
                hyp_attn,
                hard_alignment(hyp_attn),
            )
        )
    return results
