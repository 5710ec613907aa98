"""Checks every architecture must pass, shared by the per-family model tests.

Each takes a model in eval mode (dropout off) over a vocabulary of at least 40 symbols, pad 1,
EOS 2, and proves one property of the encoder-decoder interface with numbers:
- `assert_incremental_equals_full`: cached `decode_step` after `decode_step` equals the
  teacher-forced pass, log-probabilities and (when the model returns it) attention;
- `assert_padding_invariant`: a sentence padded inside a batch gives what it gives alone;
- `assert_decoder_is_causal`: changing target token t changes no decoder output before t;
- `assert_reorder_follows_the_beam`: reordering encoder output and state (duplicating rows, as a
  beam does) equals reordering the decoded rows.
"""

from __future__ import annotations

import torch


def decoder_batch(max_len: int = 7, steps: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3 right-padded sources (vocabulary 40, pad 1, eos 2) and `steps` previous target tokens each.

    Sentence 0 has max_len - 2 tokens (EOS included), the others max_len.
    """
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(4, 40, (3, max_len), generator=generator)
    src[0, max_len - 2 :] = 1  # right padding
    src[0, max_len - 3] = src[1, max_len - 1] = src[2, max_len - 1] = 2
    prev = torch.randint(4, 40, (3, steps), generator=generator)
    prev[:, 0] = 2
    return src, torch.tensor([max_len - 2, max_len, max_len]), prev


def _full_pass(model, src, lengths, prev, **langs):
    features, attn = model(src, lengths, prev, **langs)
    return torch.log_softmax(model.output_layer(features).float(), dim=-1), attn


def assert_reorder_follows_the_beam(model, batch: tuple | None = None, duplicate_rows: bool = True) -> None:
    """Decoding with reordered encoder output and state equals reordering the decoded rows.

    Two orders: a permutation and one that duplicates a row and drops another ([0, 0, 2]), as a
    beam does when two hypotheses extend the same parent. Three steps before the reorder, so a
    model's state holds more than one past input. duplicate_rows=False checks the permutation only
    (for int8 models, whose per-batch activation scales change when a row is duplicated).
    """
    src, lengths, prev = batch or decoder_batch()

    def after_three_steps() -> tuple:  # a fresh state each time: decode_step may extend its input's caches
        state = None
        for t in range(1, 4):
            _, _, state = model.decode_step(prev[:, :t], enc, state)
        return state

    with torch.no_grad():
        enc = model.encode(src, lengths)
        direct, _, direct_state = model.decode_step(prev[:, :4], enc, after_three_steps())
        next_direct, _, _ = model.decode_step(prev[:, :5], enc, direct_state)
        orders = [torch.tensor([2, 0, 1])] + ([torch.tensor([0, 0, 2])] if duplicate_rows else [])
        for order in orders:
            reordered_enc = model.reorder_encoder_out(enc, order)
            reordered_state = model.reorder_state(after_three_steps(), order)
            reordered, _, after = model.decode_step(prev[order, :4], reordered_enc, reordered_state)
            torch.testing.assert_close(reordered, direct[order])
            # and the state the reordered step returns carries on like the original rows'
            next_reordered, _, _ = model.decode_step(prev[order, :5], reordered_enc, after)
            torch.testing.assert_close(next_reordered, next_direct[order])


def assert_incremental_equals_full(
    model, start_tokens: torch.Tensor | None = None, batch: tuple | None = None, check_attention: bool = True
) -> None:
    """Cached decode_step after decode_step equals the teacher-forced pass (log-probabilities).

    start_tokens (3,): each sentence's first decoder input (e.g. a language tag) in place of
    EOS. Language ids are passed too: every model must accept them, even one that ignores them.
    When the model returns attention from both paths, they agree, sum to 1 over the source and
    never reach source padding (check_attention=False skips this).
    batch: (src, lengths, prev) in place of `decoder_batch()` (e.g. longer, to cover a receptive field).
    """
    src, lengths, prev = batch or decoder_batch()
    prev = prev.clone()
    if start_tokens is not None:
        prev[:, 0] = start_tokens
    src_lang, tgt_lang = torch.tensor([0, 1, 0]), torch.tensor([1, 0, 1])
    with torch.no_grad():
        full, full_attn = _full_pass(model, src, lengths, prev, src_lang=src_lang, tgt_lang=tgt_lang)
        enc = model.encode(src, lengths, src_lang=src_lang)
        state, steps, attns = None, [], []
        for t in range(1, prev.size(1) + 1):
            log_probs, attn, state = model.decode_step(prev[:, :t], enc, state, tgt_lang=tgt_lang)
            steps.append(log_probs)
            attns.append(attn)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    if check_attention and full_attn is not None and attns[-1] is not None:
        torch.testing.assert_close(torch.stack(attns, 1), full_attn, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(full_attn.sum(-1), torch.ones(full_attn.shape[:2]), atol=1e-5, rtol=1e-5)
        real = int(lengths[0])
        assert torch.all(full_attn[0, :, real:] == 0), "attention must not reach source padding"
    if start_tokens is not None:  # and the start token is read, not replaced by EOS somewhere
        from_eos, _, _ = model.decode_step(torch.full_like(prev[:, :1], 2), enc, None, tgt_lang=tgt_lang)
        assert (from_eos - steps[0]).abs().max() > 1e-4


def assert_padding_invariant(model, batch: tuple | None = None) -> None:
    """Sentence 0, padded inside the batch, decodes exactly as it does alone and unpadded."""
    src, lengths, prev = batch or decoder_batch()
    real = int(lengths[0])
    with torch.no_grad():
        padded, _ = _full_pass(model, src, lengths, prev)
        alone, _ = _full_pass(model, src[:1, :real], lengths[:1], prev[:1])
    torch.testing.assert_close(padded[:1], alone, atol=1e-5, rtol=1e-5)


def assert_decoder_is_causal(model, batch: tuple | None = None) -> None:
    """Changing target input t changes no output before t, and does change the output at t."""
    src, lengths, prev = batch or decoder_batch()
    with torch.no_grad():
        before, _ = _full_pass(model, src, lengths, prev)
        for t in range(1, prev.size(1)):
            changed = prev.clone()
            changed[:, t] = 4 + (changed[:, t] - 4 + 17) % 36  # another real token, never pad or EOS
            after, _ = _full_pass(model, src, lengths, changed)
            torch.testing.assert_close(after[:, :t], before[:, :t], atol=1e-6, rtol=1e-6)
            assert (after[:, t] - before[:, t]).abs().max() > 1e-6, f"target input {t} is never read"
