"""Search invariants on a tiny scripted model: greedy, brute force, batching, ensembles."""

from __future__ import annotations

import itertools

import pytest
import torch
from toy_model import ToyModel, make_batch

from toolkit.errors import UserError
from toolkit.search import Ensemble, SearchConfig, SequenceGenerator, score_targets
from toolkit.search.length_penalty import normalize_score

EOS, PAD = 2, 1


def greedy_loop(model, src, max_len, min_len=1):
    """The plainest greedy decoder: argmax at each step, EOS banned before min_len."""
    enc = model.encode(src.unsqueeze(0), torch.tensor([len(src)]))
    prev = torch.tensor([[EOS]])
    state = None
    out = []
    for step in range(max_len + 1):
        lprobs, _, state = model.decode_step(prev, enc, state)
        lprobs = lprobs[0].clone()
        lprobs[PAD] = float("-inf")
        if step < min_len:
            lprobs[EOS] = float("-inf")
        token = EOS if step == max_len else int(lprobs.argmax())
        out.append(token)
        if token == EOS:
            break
        prev = torch.cat([prev, torch.tensor([[token]])], dim=1)
    return out


def test_beam_one_equals_greedy_loop():
    model = ToyModel(vocab=9, seed=3, sharpness=1.0)
    src, lengths = make_batch([5, 3, 7, 4], vocab=9)
    gen = SequenceGenerator(model, SearchConfig(beam=1, max_len_b=12))
    hypos = gen.generate(src, lengths)
    for i in range(len(lengths)):
        expected = greedy_loop(model, src[i, : lengths[i]], 12)
        assert hypos[i][0].tokens.tolist() == expected


def all_sequences(content_tokens, max_len, min_len):
    for n in range(min_len, max_len + 1):
        for body in itertools.product(content_tokens, repeat=n):
            yield list(body) + [EOS]


@pytest.mark.parametrize("lenpen", [0.0, 1.0])
def test_wide_beam_finds_the_brute_force_optimum(lenpen):
    model = ToyModel(vocab=6, seed=7, sharpness=2.0)
    src, lengths = make_batch([4], vocab=6)
    config = SearchConfig(beam=100, nbest=100, max_len_b=3, min_len=0, lenpen=lenpen)
    hypos = SequenceGenerator(model, config).generate(src, lengths)[0]
    # Everything except pad may appear before the final EOS: 0 (bos), 3 (unk), 4, 5.
    candidates = list(all_sequences([0, 3, 4, 5], 3, 0))
    target = torch.full((len(candidates), 4), PAD)
    for row, seq in enumerate(candidates):
        target[row, : len(seq)] = torch.tensor(seq)
    scored = score_targets(model, src.expand(len(candidates), -1), lengths.expand(len(candidates)), target, lenpen)
    best = sorted(scored, key=lambda h: h.score, reverse=True)
    assert len(hypos) == len(candidates)  # the wide beam finished every sequence
    assert hypos[0].tokens.tolist() == best[0].tokens.tolist()
    assert [h.score for h in hypos] == pytest.approx([h.score for h in best], abs=1e-5)


def test_length_penalty_arithmetic():
    assert normalize_score(-6.0, 3, 0.0) == -6.0
    assert normalize_score(-6.0, 3, 1.0) == pytest.approx(-2.0)
    assert normalize_score(-6.0, 3, 2.0) == pytest.approx(-6.0 / 9)
    assert normalize_score(torch.tensor([-6.0]), torch.tensor([4]), 0.5).item() == pytest.approx(-3.0)


@pytest.mark.parametrize("lenpen", [0.0, 0.6, 1.0, 2.0])
def test_positional_scores_sum_to_the_unnormalized_score(lenpen):
    model = ToyModel(seed=2)
    src, lengths = make_batch([4, 6])
    for hyps in SequenceGenerator(model, SearchConfig(beam=3, nbest=3, lenpen=lenpen, max_len_b=8)).generate(
        src, lengths
    ):
        for h in hyps:
            assert h.score * len(h.tokens) ** lenpen == pytest.approx(float(h.positional_scores.sum()), abs=1e-4)


def test_scorer_reproduces_the_generator_scores():
    model = ToyModel(seed=5)
    src, lengths = make_batch([5, 3])
    hypos = SequenceGenerator(model, SearchConfig(beam=4, max_len_b=6)).generate(src, lengths)
    for i, hyps in enumerate(hypos):
        h = hyps[0]
        scored = score_targets(model, src[i : i + 1], lengths[i : i + 1], h.tokens.unsqueeze(0))[0]
        torch.testing.assert_close(scored.positional_scores, h.positional_scores, atol=1e-5, rtol=0)
        torch.testing.assert_close(scored.attention, h.attention)


def test_batched_equals_unbatched():
    model = ToyModel(vocab=10, seed=11, sharpness=1.5)
    lengths_list = [6, 2, 9, 4, 5]
    src, lengths = make_batch(lengths_list, vocab=10)
    config = SearchConfig(beam=4, nbest=3, max_len_a=1.5, max_len_b=2)
    batched = SequenceGenerator(model, config).generate(src, lengths)
    for i, n in enumerate(lengths_list):
        single = SequenceGenerator(model, config).generate(src[i : i + 1, :n], lengths[i : i + 1])[0]
        assert [h.tokens.tolist() for h in single] == [h.tokens.tolist() for h in batched[i]]
        assert [h.score for h in single] == pytest.approx([h.score for h in batched[i]], abs=1e-5)
        assert batched[i][0].attention.shape == (len(batched[i][0].tokens), n)
        assert all(len(h.tokens) <= int(1.5 * n + 2) + 1 for h in batched[i])


def test_ensemble_of_a_model_with_itself_equals_the_model():
    model = ToyModel(seed=4)
    src, lengths = make_batch([5, 7, 3])
    config = SearchConfig(beam=3, nbest=2, max_len_b=10)
    alone = SequenceGenerator(model, config).generate(src, lengths)
    twice = SequenceGenerator(Ensemble([model, model]), config).generate(src, lengths)
    for a, b in zip(alone, twice, strict=True):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


def test_ensemble_averages_log_probabilities():
    a, b = ToyModel(seed=1), ToyModel(seed=2)
    src, lengths = make_batch([4])
    ens = Ensemble([a, b])
    prev = torch.tensor([[EOS]])
    lp, _, _ = ens.decode_step(prev, ens.encode(src, lengths), None)
    lpa, _, _ = a.decode_step(prev, a.encode(src, lengths), None)
    lpb, _, _ = b.decode_step(prev, b.encode(src, lengths), None)
    torch.testing.assert_close(lp, (lpa + lpb) / 2)


def test_min_and_max_length():
    model = ToyModel(seed=6)
    src, lengths = make_batch([3, 8])
    for hyps in SequenceGenerator(model, SearchConfig(beam=3, nbest=3, min_len=4, max_len_b=6)).generate(src, lengths):
        for h in hyps:
            assert 5 <= len(h.tokens) <= 7
            assert h.tokens[-1] == EOS and EOS not in h.tokens[:-1].tolist()


def test_unk_penalty_removes_unknown_words():
    model = ToyModel(vocab=5, seed=8)
    src, lengths = make_batch([6, 4], vocab=5)
    for hyps in SequenceGenerator(model, SearchConfig(beam=3, nbest=3, unkpen=1e6, max_len_b=6)).generate(src, lengths):
        assert all(3 not in h.tokens.tolist() for h in hyps)


def test_nbest_larger_than_beam_is_a_user_error():
    with pytest.raises(UserError, match="--nbest"):
        SequenceGenerator(ToyModel(), SearchConfig(beam=2, nbest=3))


def test_model_cap_on_target_length():
    model = ToyModel(seed=6, max_target=5)
    src, lengths = make_batch([3])
    hyps = SequenceGenerator(model, SearchConfig(beam=2, min_len=50, max_len_b=100)).generate(src, lengths)[0]
    assert len(hyps[0].tokens) == 5  # 4 tokens + EOS: positions 0..4 fit the model


def test_bf16_autocast_runs_and_agrees_on_a_peaky_model():
    """Same best hypothesis; log-probabilities within what bf16's 8-bit significand allows.

    Each matmul input is rounded to 2^-9 relative, and the toy's logits reach about 30 in size,
    so a token's log-probability may move by a few hundredths of a nat: the tolerance is 0.1
    nats plus 2% (measured worst here: 0.054 nats).
    """
    model = ToyModel(seed=2, sharpness=6.0)
    src, lengths = make_batch([5, 3])
    config = SearchConfig(beam=2, max_len_b=6)
    fp32 = SequenceGenerator(model, config).generate(src, lengths)
    bf16 = SequenceGenerator(model, config, bf16=True).generate(src, lengths)
    moved = 0.0
    for a, b in zip(fp32, bf16, strict=True):
        assert b[0].tokens.tolist() == a[0].tokens.tolist()
        torch.testing.assert_close(b[0].positional_scores, a[0].positional_scores, atol=0.1, rtol=0.02)
        assert b[0].score == pytest.approx(a[0].score, abs=0.1, rel=0.02)
        moved = max(moved, float((b[0].positional_scores - a[0].positional_scores).abs().max()))
    assert moved > 0, "autocast had no effect: the check compared fp32 with itself"


def test_finished_sentences_leave_the_batch():
    sizes = []

    class Recording(ToyModel):
        def decode_step(self, prev_tokens, encoder_out, state, need_attn=True):
            sizes.append(prev_tokens.size(0))
            return super().decode_step(prev_tokens, encoder_out, state, need_attn)

    model = Recording(seed=3)
    src, lengths = make_batch([2, 12, 3])
    SequenceGenerator(model, SearchConfig(beam=2, min_len=30, max_len_a=1.0, max_len_b=0)).generate(src, lengths)
    # Sentences are forced to stop at 2, 3 and 12 tokens; afterwards only the long one is decoded.
    assert sizes[:3] == [6, 6, 6] and sizes[3] == 4 and sizes[4:] == [2] * (len(sizes) - 4)
    assert len(sizes) == 13
