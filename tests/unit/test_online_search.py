"""The in-step decoder of online back-translation: greedy equals beam 1; sampling is a pure function."""

from __future__ import annotations

import torch
from toy_model import ToyModel, make_batch

from toolkit.search import SearchConfig, SequenceGenerator
from toolkit.search.online import OnlineSearch, translate_batch

EOS, PAD, BOS = 2, 1, 0


def banned(vocab: int) -> torch.Tensor:
    out = torch.zeros(vocab, dtype=torch.bool)
    out[[BOS, PAD]] = True
    return out


def test_greedy_equals_beam_one_with_the_same_length_cap():
    model = ToyModel(vocab=9, seed=3, sharpness=1.0)
    src, lengths = make_batch([5, 3, 7, 4, 6], vocab=9)
    search = OnlineSearch(max_len_a=1.5, max_len_b=2)
    tokens, out_lengths = translate_batch(model, src, lengths, EOS, banned(9), search)
    beam = SequenceGenerator(model, SearchConfig(beam=1, max_len_a=1.5, max_len_b=2, min_len=1))
    compared = 0
    for row, hypos in enumerate(beam.generate(src, lengths)):
        mine = tokens[row, : out_lengths[row]].tolist()
        assert mine[-1] == EOS and EOS not in mine[:-1] and len(mine) <= int(1.5 * lengths[row] + 2) + 1
        assert bool(tokens[row, out_lengths[row] :].eq(PAD).all())
        if BOS not in hypos[0].tokens.tolist():  # the generator may produce <s>; the online decoder never does
            assert mine == hypos[0].tokens.tolist()
            compared += 1
    assert compared >= 3


def test_sampling_is_pure_and_differs_from_greedy():
    model = ToyModel(vocab=9, seed=5, sharpness=0.5)
    src, lengths = make_batch([6] * 40, vocab=9)
    search = OnlineSearch(sampling=True, max_len_a=1.0, max_len_b=3)
    ids = torch.arange(40)
    first = translate_batch(model, src, lengths, EOS, banned(9), search, sentence_ids=ids, seed=1, update=7)
    again = translate_batch(model, src, lengths, EOS, banned(9), search, sentence_ids=ids, seed=1, update=7)
    assert torch.equal(first[0], again[0])
    later = translate_batch(model, src, lengths, EOS, banned(9), search, sentence_ids=ids, seed=1, update=8)
    assert not torch.equal(first[0], later[0])
    greedy = translate_batch(model, src, lengths, EOS, banned(9), OnlineSearch(max_len_a=1.0, max_len_b=3))
    assert not torch.equal(first[0], greedy[0])
    # A sentence samples the same in any batch: rows 3 and 4 alone get what they got among 40.
    alone = translate_batch(model, src[3:5], lengths[3:5], EOS, banned(9), search, sentence_ids=ids[3:5], seed=1,
                            update=7)  # fmt: skip
    for row in range(2):
        n = int(alone[1][row])
        assert alone[0][row, :n].tolist() == first[0][3 + row, :n].tolist()
    assert not bool(first[0].eq(BOS).any())
