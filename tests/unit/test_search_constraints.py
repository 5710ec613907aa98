"""Per-sentence search constraints: a decoder start token, a length cap, language ids."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from toy_model import ToyModel, make_batch

from toolkit.models.transformer import TransformerConfig, TransformerModel
from toolkit.search import Ensemble, SearchConfig, SequenceGenerator, score_targets

EOS, PAD = 2, 1


class ForcedStart(ToyModel):
    """The oracle: whatever the driver puts first, the model reads `start` as its first input."""

    def __init__(self, start: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start = start

    def decode_step(self, prev_tokens, encoder_out, state, need_attn=True, tgt_lang=None):
        prev = prev_tokens.clone()
        prev[:, 0] = self.start
        return super().decode_step(prev, encoder_out, state, need_attn)


class Recorder(ToyModel):
    """Keeps src_lang in its encoder output (so search reorders it) and records every decoder call."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []
        self.moved = False

    def encode(self, src_tokens, src_lengths, src_lang=None):
        return {**super().encode(src_tokens, src_lengths), "src_lang": src_lang}

    def decode_step(self, prev_tokens, encoder_out, state, need_attn=True, tgt_lang=None):
        self.calls.append((prev_tokens[:, 0].clone(), encoder_out["src_lang"], tgt_lang))
        return super().decode_step(prev_tokens, encoder_out, state, need_attn)

    def reorder_state(self, state, order):
        self.moved |= not torch.equal(order, torch.arange(len(order)))
        return super().reorder_state(state, order)


class Legacy(ToyModel):
    """A user's model written before the language arguments existed."""

    def encode(self, src_tokens, src_lengths):
        return super().encode(src_tokens, src_lengths)

    def decode_step(self, prev_tokens, encoder_out, state, need_attn=True):
        return super().decode_step(prev_tokens, encoder_out, state, need_attn)


def tokens_and_scores(hypos):
    return [[(h.tokens.tolist(), round(h.score, 5)) for h in hyps] for hyps in hypos]


def test_the_start_token_is_the_first_decoder_input_and_never_output():
    src, lengths = make_batch([5, 3, 7], vocab=9)
    bos = torch.tensor([6, 7, 8])
    config = SearchConfig(beam=3, nbest=2, max_len_b=8)
    model = Recorder(vocab=9, seed=3, sharpness=1.0)
    batched = SequenceGenerator(model, config).generate(src, lengths, bos_tokens=bos)
    first_inputs = model.calls[0][0]
    assert first_inputs.tolist() == [6] * 3 + [7] * 3 + [8] * 3
    for i in range(3):
        oracle = ForcedStart(int(bos[i]), vocab=9, seed=3, sharpness=1.0)
        alone = SequenceGenerator(oracle, config).generate(src[i : i + 1, : lengths[i]], lengths[i : i + 1])
        assert tokens_and_scores(alone) == tokens_and_scores(batched[i : i + 1])
    # Not vacuous: starting from EOS gives other hypotheses.
    assert tokens_and_scores(SequenceGenerator(model, config).generate(src, lengths)) != tokens_and_scores(batched)


CAPS = torch.tensor([3, 0, 9, 30])
# --max-len-a 1 --max-len-b 2 allows [6, 8, 5, 7] for sources of [4, 6, 3, 5]; the models' 8
# target positions allow 7: the caps that bind are [3, 0, 5, 7], one from each limit.
EXPECTED = [3, 0, 5, 7]
SETUPS = {
    "beam": SearchConfig(beam=3, nbest=3),
    "greedy": SearchConfig(beam=1),
    "topk": SearchConfig(beam=2, nbest=2, sampling=True, sampling_topk=3),
    "topp": SearchConfig(beam=2, nbest=2, sampling=True, sampling_topp=0.8),
    "ensemble": SearchConfig(beam=2, nbest=2),
}


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_a_per_sentence_length_cap_is_honoured(name):
    # min_len beyond every cap: each hypothesis runs until a cap forces EOS, so its length shows which.
    config = dataclasses.replace(SETUPS[name], min_len=50, max_len_a=1.0, max_len_b=2)
    model = ToyModel(vocab=9, seed=5, sharpness=1.0, max_target=8)
    if name == "ensemble":
        model = Ensemble([model, ToyModel(vocab=9, seed=6, max_target=20)])
    src, lengths = make_batch([4, 6, 3, 5], vocab=9)
    hypos = SequenceGenerator(model, config, rng=torch.Generator().manual_seed(0)).generate(
        src, lengths, max_lengths=CAPS
    )
    for hyps, cap in zip(hypos, EXPECTED, strict=True):
        assert hyps and all(len(h.tokens) == cap + 1 and h.tokens[-1] == EOS for h in hyps)
        assert all(EOS not in h.tokens[:-1].tolist() for h in hyps)
    assert all(h.tokens.tolist() == [EOS] for h in hypos[1])  # a cap of 0: just EOS


def test_score_targets_with_a_start_token_is_the_models_log_probability():
    """Against the Transformer's teacher-forced pass, whose first input is the start token."""
    config = TransformerConfig(
        encoder_embed_dim=16,
        encoder_ffn_embed_dim=32,
        encoder_layers=1,
        encoder_attention_heads=2,
        decoder_embed_dim=16,
        decoder_ffn_embed_dim=32,
        decoder_layers=2,
        decoder_attention_heads=2,
    )
    torch.manual_seed(0)
    model = TransformerModel.build(config, 30, 30, PAD, EOS).eval()
    src, lengths = make_batch([5, 7, 3], vocab=30)
    target = torch.tensor([[7, 8, 9, 2, 1], [10, 11, 2, 1, 1], [12, 13, 14, 15, 2]])
    bos = torch.tensor([27, 28, 29])
    scored = score_targets(model, src, lengths, target, lenpen=0.0, bos_tokens=bos)
    with torch.no_grad():
        prev = torch.cat([bos.unsqueeze(1), target[:, :-1]], dim=1)
        features, _ = model(src, lengths, prev)
        lprobs = torch.log_softmax(model.output_layer(features), dim=-1).gather(2, target.unsqueeze(2)).squeeze(2)
    for i, h in enumerate(scored):
        n = int(target[i].ne(PAD).sum())
        assert h.tokens.tolist() == target[i, :n].tolist()
        torch.testing.assert_close(h.positional_scores, lprobs[i, :n], atol=1e-5, rtol=0)
        assert h.score == pytest.approx(float(lprobs[i, :n].sum()), abs=1e-4)
    from_eos = score_targets(model, src, lengths, target, lenpen=0.0)
    assert all(abs(a.score - b.score) > 1e-3 for a, b in zip(from_eos, scored, strict=True))


def test_the_scorer_reproduces_the_generator_from_a_start_token():
    model = ToyModel(vocab=9, seed=4)
    src, lengths = make_batch([5, 3], vocab=9)
    bos = torch.tensor([7, 8])
    hypos = SequenceGenerator(model, SearchConfig(beam=3, max_len_b=6)).generate(src, lengths, bos_tokens=bos)
    for i, hyps in enumerate(hypos):
        h = hyps[0]
        scored = score_targets(
            model, src[i : i + 1], lengths[i : i + 1], h.tokens.unsqueeze(0), bos_tokens=bos[i : i + 1]
        )
        torch.testing.assert_close(scored[0].positional_scores, h.positional_scores, atol=1e-5, rtol=0)


def test_language_ids_stay_with_their_sentence_through_beams_and_finished_sentences():
    model = Recorder(vocab=9, seed=3, sharpness=1.0)
    src, lengths = make_batch([2, 12, 3, 5], vocab=9)
    src_lang, tgt_lang, bos = torch.tensor([10, 11, 12, 13]), torch.tensor([20, 21, 22, 23]), torch.tensor([5, 6, 7, 8])
    # Sentences are forced to stop at 2, 3, 5 and 12 tokens: they leave the batch one by one.
    config = SearchConfig(beam=3, nbest=3, min_len=30, max_len_a=1.0, max_len_b=0)
    SequenceGenerator(model, config).generate(src, lengths, bos_tokens=bos, src_lang=src_lang, tgt_lang=tgt_lang)
    rows = [len(first) for first, _, _ in model.calls]
    assert rows == [12] * 3 + [9] + [6] * 2 + [3] * 7 and model.moved
    for first, enc_lang, dec_lang in model.calls:
        # Every row's decoder language, start token and (reordered) encoder language name one sentence.
        assert torch.equal(dec_lang - 10, enc_lang) and torch.equal(first + 5, enc_lang)
    model.calls.clear()
    score_targets(model, src, lengths, torch.full((4, 2), EOS), src_lang=src_lang, tgt_lang=tgt_lang)
    assert all(torch.equal(dec - 10, enc) for _, enc, dec in model.calls)


def greedy_loop(model, src, start, cap):
    """The plainest greedy decoder from a start token, EOS forced after `cap` tokens."""
    enc = model.encode(src.unsqueeze(0), torch.tensor([len(src)]))
    prev, state, out = torch.tensor([[start]]), None, []
    for step in range(cap + 1):
        lprobs, _, state = model.decode_step(prev, enc, state)
        lprobs[0, PAD] = float("-inf")
        token = EOS if step == cap else int(lprobs[0].argmax())
        out.append(token)
        if token == EOS:
            break
        prev = torch.cat([prev, torch.tensor([[token]])], dim=1)
    return out


def test_beam_one_equals_a_greedy_loop_from_the_start_token():
    model = ToyModel(vocab=9, seed=3, sharpness=1.0)
    src, lengths = make_batch([5, 3, 7, 4], vocab=9)
    bos, caps = torch.tensor([5, 6, 7, 8]), torch.tensor([2, 9, 4, 0])
    langs = torch.zeros(4, dtype=torch.long)
    hypos = SequenceGenerator(model, SearchConfig(beam=1, min_len=0, max_len_b=6)).generate(
        src, lengths, bos_tokens=bos, max_lengths=caps, src_lang=langs, tgt_lang=langs
    )
    for i in range(4):
        expected = greedy_loop(model, src[i, : lengths[i]], int(bos[i]), min(int(caps[i]), 6))
        assert hypos[i][0].tokens.tolist() == expected


def test_models_without_language_arguments_still_work():
    src, lengths = make_batch([4, 6])
    bos, caps = torch.tensor([4, 5]), torch.tensor([3, 1])
    config = SearchConfig(beam=2, nbest=2, max_len_b=8)
    for model in (Legacy(seed=1), Ensemble([Legacy(seed=1), Legacy(seed=2)])):
        hypos = SequenceGenerator(model, config).generate(src, lengths, bos_tokens=bos, max_lengths=caps)
        assert all(len(h.tokens) <= cap + 1 for hyps, cap in zip(hypos, caps.tolist(), strict=True) for h in hyps)
        scored = score_targets(model, src, lengths, torch.tensor([[4, EOS], [5, EOS]]), bos_tokens=bos)
        assert all(torch.isfinite(h.positional_scores).all() for h in scored)


def test_a_per_sentence_argument_of_the_wrong_shape_is_refused():
    src, lengths = make_batch([4, 6])
    with pytest.raises(ValueError, match="max_lengths must have shape"):
        SequenceGenerator(ToyModel(), SearchConfig(beam=2)).generate(src, lengths, max_lengths=torch.tensor([3]))
