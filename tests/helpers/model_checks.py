"""Checks every architecture must pass, shared by the per-family model tests."""

from __future__ import annotations

import torch


def decoder_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3 right-padded sources (vocabulary 40, pad 1, eos 2) and 6 previous target tokens each."""
    torch.manual_seed(1)
    src = torch.randint(4, 40, (3, 7))
    src[0, 5:] = 1  # right padding
    src[0, 4] = src[1, 6] = src[2, 6] = 2
    prev = torch.randint(4, 40, (3, 6))
    prev[:, 0] = 2
    return src, torch.tensor([5, 7, 7]), prev


def assert_reorder_follows_the_beam(model) -> None:
    """Decoding with reordered encoder output and state equals reordering the decoded rows."""
    src, lengths, prev = decoder_batch()
    order = torch.tensor([2, 0, 1])
    with torch.no_grad():
        enc = model.encode(src, lengths)
        _, _, state = model.decode_step(prev[:, :1], enc, None)
        reordered, _, _ = model.decode_step(
            prev[order, :2], model.reorder_encoder_out(enc, order), model.reorder_state(state, order)
        )
        direct, _, _ = model.decode_step(prev[:, :2], enc, state)
    torch.testing.assert_close(reordered, direct[order])
