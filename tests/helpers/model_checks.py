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


def assert_incremental_equals_full(model, start_tokens: torch.Tensor | None = None) -> None:
    """Cached decode_step after decode_step equals the teacher-forced pass (log-probabilities).

    start_tokens (3,): each sentence's first decoder input (e.g. a language tag) in place of
    EOS. Language ids are passed too: every model must accept them, even one that ignores them.
    """
    src, lengths, prev = decoder_batch()
    if start_tokens is not None:
        prev[:, 0] = start_tokens
    src_lang, tgt_lang = torch.tensor([0, 1, 0]), torch.tensor([1, 0, 1])
    with torch.no_grad():
        features, _ = model(src, lengths, prev, src_lang=src_lang, tgt_lang=tgt_lang)
        full = torch.log_softmax(model.output_layer(features).float(), dim=-1)
        enc = model.encode(src, lengths, src_lang=src_lang)
        state, steps = None, []
        for t in range(1, prev.size(1) + 1):
            log_probs, _, state = model.decode_step(prev[:, :t], enc, state, tgt_lang=tgt_lang)
            steps.append(log_probs)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    if start_tokens is not None:  # and the start token is read, not replaced by EOS somewhere
        from_eos, _, _ = model.decode_step(torch.full_like(prev[:, :1], 2), enc, None, tgt_lang=tgt_lang)
        assert (from_eos - steps[0]).abs().max() > 1e-4
