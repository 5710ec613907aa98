"""Translate binarized ids with an exported CTranslate2 model, searching as `nmt generate` does.

CTranslate2's defaults differ from ours; `translate_ids` sets each option to nmt's meaning:

    nmt                                       CTranslate2 (translate_batch)
    --beam K (default 5)                      beam_size=K (its default is 2)
    --lenpen L: score / len(with EOS) ** L    length_penalty=L with return_end_token=True (it then
                                              counts the final </s> in the length, as we do)
    cap = min(a * |x| + b, max target         max_decoding_length=cap, one value per call, so sentences
      positions - 1) tokens before the EOS,   are grouped by cap (|x| counts the source's </s>); at its
      per sentence (--max-len-a/-b)           last step CTranslate2 stops where we force the </s>
    --min-len N                               min_decoding_length=N (both forbid </s> while step < N)
    <pad> never generated                     suppress_sequences=[["<pad>"]]
    sources longer than the model's           max_input_length=0 (no silent truncation; generate
      positions are refused                   refuses them before searching)

The model computes the same log-probabilities (forced decoding agrees to 1e-6), and greedy search
(K = 1) gives our tokens exactly. A beam can still differ, for two reasons:
- a token CTranslate2 forbids (</s> before --min-len, <pad>) is removed before its softmax, so the
  rest is renormalized; we remove it after (fairseq's way). Every hypothesis's first-step score then
  differs by log(1 - p(</s> first)), a constant per sentence that length normalization divides by
  different lengths: it can tip the beam toward a shorter hypothesis when a model puts real mass
  on ending at once (a trained model does not);
- a hypothesis that reaches its cap: we add the forced </s>'s score, CTranslate2 stops one token
  short of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def load_translator(model_dir: str | os.PathLike, threads: int = 2, compute_type: str = "default", device="cpu"):
    """A ctranslate2.Translator over `model_dir`: one batch at a time, `threads` threads for it."""
    from toolkit.export.ctranslate2 import require_ctranslate2

    ctranslate2 = require_ctranslate2()
    return ctranslate2.Translator(
        str(Path(model_dir)), device=device, compute_type=compute_type, inter_threads=1, intra_threads=threads
    )


def length_caps(src_lengths: Sequence[int], max_len_a: float, max_len_b: int, max_target_positions: int) -> list[int]:
    """Per sentence, the most tokens before the final </s>: SequenceGenerator.length_caps's rule.

    |x| counts the source's </s>; a * |x| + b in float64, truncated; at most what the target
    positions allow after the start token.
    """
    top = max_target_positions - 1
    return [min(max(int(max_len_a * float(n) + max_len_b), 0), top) for n in src_lengths]


def translate_ids(
    translator: Any,
    sources: Sequence[Sequence[int]],
    src_dict: Any,
    tgt_dict: Any,
    *,
    max_target_positions: int,
    beam: int = 5,
    lenpen: float = 1.0,
    max_len_a: float = 0.0,
    max_len_b: int = 200,
    min_len: int = 1,
    batch_size: int = 128,
) -> list[list[int]]:
    """The best hypothesis of each source, as target ids without the final </s>, in input order.

    sources: binarized source ids, each ending with </s> (as `nmt preprocess` writes them).
    Batches are cut as `nmt generate` cuts them (sorted by source length, `batch_size` sentences),
    then split by length cap, since CTranslate2 takes one max_decoding_length per call.
    """
    lengths = [len(s) for s in sources]
    caps = length_caps(lengths, max_len_a, max_len_b, max_target_positions)
    order = sorted(range(len(sources)), key=lengths.__getitem__)  # stable, like generation_batches
    pad = tgt_dict[tgt_dict.pad_index]
    options = {
        "beam_size": beam,
        "length_penalty": lenpen,
        "min_decoding_length": min_len,
        "max_input_length": 0,
        "return_end_token": True,
        "suppress_sequences": [[pad]],
    }
    best: list[list[int] | None] = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        by_cap: dict[int, list[int]] = {}
        for i in order[start : start + batch_size]:
            by_cap.setdefault(caps[i], []).append(i)
        for cap, rows in by_cap.items():
            if cap == 0:  # nothing but the forced </s>
                for i in rows:
                    best[i] = []
                continue
            batch = [source_tokens(sources[i], src_dict) for i in rows]
            results = translator.translate_batch(batch, max_decoding_length=cap, **options)
            for i, result in zip(rows, results, strict=True):
                best[i] = target_ids(result.hypotheses[0], tgt_dict)
    return best  # type: ignore[return-value]


def source_tokens(ids: Sequence[int], src_dict: Any) -> list[str]:
    """Binarized ids -> the symbols CTranslate2 reads, without the final </s> (the model adds it)."""
    ids = [int(i) for i in ids]
    if ids and ids[-1] == src_dict.eos_index:
        ids = ids[:-1]
    return [src_dict[i] for i in ids]


def target_ids(tokens: Sequence[str], tgt_dict: Any) -> list[int]:
    """CTranslate2's output symbols -> our ids, dropping the final </s> it returns."""
    ids = [tgt_dict.index(t) for t in tokens]
    if ids and ids[-1] == tgt_dict.eos_index:
        ids = ids[:-1]
    return ids
