"""Masked-LM inputs: 15% of tokens chosen, of those 80% <mask>, 10% random, 10% kept; blocks cover the text."""

from __future__ import annotations

import numpy as np
import torch

from toolkit.tasks.masked_lm import BlockStreams, MaskedLMConfig, mask_tokens

PAD, MASK, FIRST, VOCAB = 1, 4, 7, 500


def test_masking_proportions_and_targets():
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(FIRST, VOCAB, (3000, 64), generator=gen)
    tokens[::3, 50:] = PAD  # padded rows: padding is never chosen
    config = MaskedLMConfig()
    inputs, targets = mask_tokens(tokens, torch.arange(3000), 5, 1, config, PAD, MASK, FIRST, VOCAB)
    real = tokens.ne(PAD)
    chosen = targets.ne(PAD)
    assert not bool((chosen & ~real).any())
    assert abs(float(chosen.sum()) / float(real.sum()) - 0.15) < 0.005
    assert torch.equal(targets[chosen], tokens[chosen])
    n = float(chosen.sum())
    masked = float((inputs.eq(MASK) & chosen).sum()) / n
    kept = float((inputs.eq(tokens) & chosen).sum()) / n
    randomised = float((inputs.ne(MASK) & inputs.ne(tokens) & chosen).sum()) / n
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01 and abs(randomised - 0.1) < 0.01
    assert torch.equal(inputs[~chosen], tokens[~chosen])  # unchosen positions are untouched
    replaced = inputs[inputs.ne(MASK) & inputs.ne(tokens) & chosen]
    assert int(replaced.min()) >= FIRST and int(replaced.max()) < VOCAB  # never a special symbol
    # A pure function of (seed, update, block): the same again, other positions at another update.
    assert torch.equal(mask_tokens(tokens, torch.arange(3000), 5, 1, config, PAD, MASK, FIRST, VOCAB)[0], inputs)
    other = mask_tokens(tokens, torch.arange(3000), 6, 1, config, PAD, MASK, FIRST, VOCAB)[1]
    assert not torch.equal(other.ne(PAD), chosen)


def test_blocks_cover_each_stream_exactly_once():
    streams = [np.arange(10, 47), np.arange(100, 164), np.arange(200, 203)]
    blocks = BlockStreams(streams, block=16)
    assert len(blocks) == 3 + 4 + 1
    tokens, lengths, which = blocks.batch(np.arange(len(blocks)), PAD)
    assert which.tolist() == [0, 0, 0, 1, 1, 1, 1, 2]
    for k, stream in enumerate(streams):
        rows = [tokens[r, : lengths[r]].tolist() for r in range(len(blocks)) if which[r] == k]
        assert sum(rows, []) == stream.tolist()
    assert lengths.tolist() == [16, 16, 5, 16, 16, 16, 16, 3]
