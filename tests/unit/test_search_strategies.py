"""n-gram blocking, sampling and its filters."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_model import ToyModel, make_batch

from toolkit.search import SearchConfig, SequenceGenerator
from toolkit.search.ngram import block_repeated_ngrams
from toolkit.search.strategies import top_k_top_p_filter


def naive_banned(seq: list[int], n: int) -> set[int]:
    if len(seq) < n:
        return set()
    prefix = tuple(seq[len(seq) - n + 1 :]) if n > 1 else ()
    return {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == prefix}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=6, max_size=6), min_size=1, max_size=4), st.integers(1, 4))
def test_ngram_blocking_matches_a_naive_implementation(rows, n):
    generated = torch.tensor(rows)
    lprobs = block_repeated_ngrams(torch.zeros(len(rows), 5), generated, n)
    for row, seq in enumerate(rows):
        banned = {i for i in range(5) if lprobs[row, i] == float("-inf")}
        assert banned == naive_banned(seq, n)


def has_repeat(seq: list[int], n: int) -> bool:
    grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
    return len(grams) != len(set(grams))


def test_no_repeat_ngram_size_never_repeats():
    model = ToyModel(vocab=7, seed=9, sharpness=0.3)
    src, lengths = make_batch([5, 8, 3], vocab=7)
    for n in (1, 2, 3):
        config = SearchConfig(beam=4, nbest=4, min_len=12, max_len_b=14, no_repeat_ngram_size=n)
        for hyps in SequenceGenerator(model, config).generate(src, lengths):
            for h in hyps:
                assert not has_repeat(h.tokens[:-1].tolist(), n)


def test_top_k_and_top_p_filters():
    lprobs = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(top_k_top_p_filter(lprobs, 2, -1)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_k_top_p_filter(lprobs, -1, 0.7)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_k_top_p_filter(lprobs, -1, 0.45)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_k_top_p_filter(lprobs, -1, 0.01)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_k_top_p_filter(lprobs, -1, -1)).all()


def test_sampling_from_the_top_one_is_greedy():
    model = ToyModel(vocab=9, seed=3, sharpness=1.0)
    src, lengths = make_batch([5, 3, 7], vocab=9)
    greedy = SequenceGenerator(model, SearchConfig(beam=1, max_len_b=10)).generate(src, lengths)
    sampled = SequenceGenerator(model, SearchConfig(beam=1, sampling=True, sampling_topk=1, max_len_b=10)).generate(
        src, lengths
    )
    assert [h[0].tokens.tolist() for h in greedy] == [h[0].tokens.tolist() for h in sampled]


def test_sampling_is_reproducible_and_well_formed():
    model = ToyModel(vocab=9, seed=3, sharpness=0.5)
    src, lengths = make_batch([5, 3, 7], vocab=9)
    config = SearchConfig(beam=4, nbest=4, sampling=True, sampling_topp=0.9, temperature=1.3, max_len_b=10)

    def run(seed):
        rng = torch.Generator().manual_seed(seed)
        return [
            [h.tokens.tolist() for h in hyps]
            for hyps in SequenceGenerator(model, config, rng=rng).generate(src, lengths)
        ]

    first = run(1)
    assert first == run(1)
    for hyps in first:
        assert len(hyps) == 4
        for tokens in hyps:
            assert tokens[-1] == 2 and 2 not in tokens[:-1] and 1 not in tokens


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(2, 30), st.integers(0, 3), st.integers(0, 10_000))
def test_two_stage_beam_step_equals_one_flat_topk(bsz, beam, vocab, step, seed):
    """Each beam's own 2K best, then the sentence's 2K best of those = the 2K best of all K*V."""
    from toolkit.search.strategies import BeamSearch

    gen = torch.Generator().manual_seed(seed)
    lprobs = torch.randn(bsz, beam, vocab, generator=gen, dtype=torch.float64).log_softmax(-1)
    scores = torch.randn(bsz, beam, step, generator=gen, dtype=torch.float64)
    cand_scores, cand_tokens, cand_beams = BeamSearch(beam).step(step, lprobs, scores)
    live = lprobs[:, :1] if step == 0 else lprobs + scores[:, :, step - 1 : step]
    flat = live.reshape(bsz, -1)
    k = min(2 * beam, flat.size(1))
    expected = flat.topk(k, dim=1).values
    torch.testing.assert_close(cand_scores[:, :k], expected, rtol=0, atol=0)
    # The (beam, token) of each candidate really has that score.
    torch.testing.assert_close(live[torch.arange(bsz)[:, None], cand_beams[:, :k], cand_tokens[:, :k]], expected)
    assert torch.all(cand_scores[:, k:] == float("-inf"))
