"""The denoising noise model C(x): shuffle bound, dropout and blanking rates, whole words, determinism."""

from __future__ import annotations

import torch

from toolkit.data.noise import Noise, NoiseConfig, continuation_mask, uniform

PAD, EOS, MASK = 1, 2, 4
SYMBOLS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + [f"w{i}" for i in range(200)] + ["pre@@", "mid@@"]
CONTINUES = continuation_mask(SYMBOLS)
PRE, MID = len(SYMBOLS) - 2, len(SYMBOLS) - 1


def noise(**config) -> Noise:
    return Noise(NoiseConfig(**config), PAD, EOS, MASK, CONTINUES, seed=7)


def batch(rows: int = 400, length: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of distinct words 5.. (so positions can be traced), EOS last; every other row shorter, padded."""
    lengths = torch.tensor([length if r % 2 == 0 else length - 4 for r in range(rows)])
    tokens = torch.full((rows, length), PAD)
    for r, n in enumerate(lengths.tolist()):
        tokens[r, : n - 1] = torch.arange(5, 5 + n - 1)
        tokens[r, n - 1] = EOS
    return tokens, lengths


def test_uniform_draws_are_uniform_and_pure():
    sentences = torch.arange(2000)[:, None]
    units = torch.arange(50)[None, :]
    u = uniform(3, 11, sentences, units, salt=1)
    assert u.shape == (2000, 50) and float(u.min()) >= 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005
    assert torch.equal(u, uniform(3, 11, sentences, units, salt=1))
    assert not torch.equal(u, uniform(3, 12, sentences, units, salt=1))  # another update, other draws
    assert not torch.equal(u, uniform(4, 11, sentences, units, salt=1))  # another seed


def test_shuffle_moves_no_token_more_than_k_and_some_exactly_k():
    tokens, lengths = batch()
    for k in (1, 2, 3):
        shuffled, new_lengths = noise(shuffle_distance=k, dropout=0, blank=0)(tokens, lengths, torch.arange(400), 5)
        assert torch.equal(new_lengths, lengths)
        moves = []
        for row, n in enumerate(lengths.tolist()):
            out = shuffled[row, : n - 1].tolist()
            assert sorted(out) == list(range(5, 5 + n - 1))  # a permutation of the words
            assert shuffled[row, n - 1] == EOS and bool(shuffled[row, n:].eq(PAD).all())
            moves += [abs(position - (word - 5)) for position, word in enumerate(out)]
        assert max(moves) == k, f"k={k}: largest move {max(moves)}"
        assert 0.2 < sum(m > 0 for m in moves) / len(moves)


def test_word_dropout_rate_and_never_everything():
    tokens, lengths = batch()
    dropped, new_lengths = noise(shuffle_distance=0, dropout=0.3, blank=0)(tokens, lengths, torch.arange(400), 1)
    kept_share = float((new_lengths - 1).sum()) / float((lengths - 1).sum())
    assert abs(kept_share - 0.7) < 0.03
    for row, n in enumerate(new_lengths.tolist()):
        words = dropped[row, : n - 1].tolist()
        assert words == sorted(words)  # what stays keeps its order
        assert dropped[row, n - 1] == EOS
    assert dropped.size(1) == int(new_lengths.max())
    # A one-word sentence under dropout 0.9 keeps its word: never every word.
    one = torch.tensor([[9, EOS]] * 200)
    drop_most = noise(shuffle_distance=0, dropout=0.9, blank=0)
    kept, kept_lengths = drop_most(one, torch.full((200,), 2), torch.arange(200), 1)
    assert bool(kept_lengths.eq(2).all()) and bool(kept[:, 0].eq(9).all())


def test_blanking_rate_and_eos_untouched():
    tokens, lengths = batch()
    blanked, new_lengths = noise(shuffle_distance=0, dropout=0, blank=0.2)(tokens, lengths, torch.arange(400), 2)
    content = torch.arange(tokens.size(1))[None, :] < (lengths[:, None] - 1)
    share = float((blanked.eq(MASK) & content).sum()) / float(content.sum())
    assert abs(share - 0.2) < 0.02
    assert not bool((blanked.eq(MASK) & ~content).any())
    assert torch.equal(blanked.masked_fill(blanked.eq(MASK), 0), tokens.masked_fill(blanked.eq(MASK), 0))


def test_whole_words_move_drop_and_blank_together():
    # "pre@@ mid@@ w0" is one word of three pieces, then w1..w6.
    row = [PRE, MID, 5, 6, 7, 8, 9, 10, 11, EOS]
    tokens = torch.tensor([row] * 300)
    lengths = torch.full((300,), len(row))
    out, out_lengths = noise(shuffle_distance=3, dropout=0.2, blank=0.2)(tokens, lengths, torch.arange(300), 4)
    intact = dropped = blanked = 0
    for r, n in enumerate(out_lengths.tolist()):
        seq = out[r, : n - 1].tolist()
        if PRE in seq:
            i = seq.index(PRE)
            assert seq[i : i + 3] == [PRE, MID, 5]
            intact += 1
        elif seq.count(MASK) >= 3 and any(seq[i : i + 3] == [MASK] * 3 for i in range(len(seq))):
            blanked += 1
        else:
            assert MID not in seq and 5 not in seq
            dropped += 1
    assert intact and dropped and blanked
    # Token units split the word: its pieces are then noised apart.
    apart = noise(shuffle_distance=3, dropout=0, blank=0, whole_words=False)(tokens, lengths, torch.arange(300), 4)[0]
    assert any(apart[r, : len(row) - 1].tolist().index(MID) != apart[r].tolist().index(PRE) + 1 for r in range(300))


def test_noise_is_a_pure_function_of_seed_update_and_sentence():
    tokens, lengths = batch(rows=40)
    ids = torch.arange(100, 140)
    make = noise()
    first, first_lengths = make(tokens, lengths, ids, 9)
    again, _ = make(tokens, lengths, ids, 9)
    assert torch.equal(first, again)
    # The same sentence in another batch (other neighbours, other order) gets the same noise.
    order = torch.arange(39, -1, -1)
    alone, alone_lengths = make(tokens[order][:5], lengths[order][:5], ids[order][:5], 9)
    for row in range(5):
        n = int(alone_lengths[row])
        assert alone[row, :n].tolist() == first[39 - row, :n].tolist()
    other_update, _ = make(tokens, lengths, ids, 10)
    assert not torch.equal(first, other_update)
