"""The recurrent family: cells, hand-computed attention, incremental = teacher-forced, presets."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from tests.helpers.model_checks import (
    assert_decoder_is_causal,
    assert_incremental_equals_full,
    assert_padding_invariant,
    assert_reorder_follows_the_beam,
    decoder_batch,
)
from toolkit.models import build_model, model_config_to_dict
from toolkit.models.rnn import RNNConfig
from toolkit.modules.recurrent_cells import StackedRecurrentCell
from toolkit.modules.rnn_attention import AdditiveScore, DotScore, GeneralScore, RecurrentAttention, build_score
from toolkit.registry import ARCHITECTURES

PRESETS = ["lstm", "lstm_luong_wmt_en_de", "lstm_local_p", "gru_bahdanau", "seq2seq_sutskever", "gru_cho"]


def small(config: RNNConfig, dim: int = 16) -> RNNConfig:
    """The same structure (cell, layers, attention, directions) at a size tests can afford."""
    return dataclasses.replace(
        config,
        encoder_embed_dim=dim,
        encoder_hidden_size=dim,
        decoder_embed_dim=dim,
        decoder_hidden_size=dim,
        decoder_out_embed_dim=dim,
        encoder_layers=min(config.encoder_layers, 2),
        decoder_layers=min(config.decoder_layers, 2),
        local_window_size=min(config.local_window_size, 2)
        if config.attention_window != "global"
        else config.local_window_size,
    )


def _model(config: RNNConfig, vocab: int = 40, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(model_config_to_dict("rnn", config), vocab, vocab, 1, 2)


_batch = decoder_batch


VARIANTS = {
    **{name: small(ARCHITECTURES.resolve(name)[1]) for name in PRESETS},
    "luong_dot": small(RNNConfig(attention_score="dot")),
    "luong_concat_no_feed": small(RNNConfig(attention_score="concat", input_feeding=False)),
    "luong_local_m_gru": small(RNNConfig(rnn_type="gru", attention_window="local-m")),
    "bidirectional_general_proj": small(RNNConfig(encoder_bidirectional=True, encoder_layers=2, decoder_layers=1)),
    "sutskever_shared": small(RNNConfig(attention="none", share_all_embeddings=True)),
}


# --- cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_stacked_cell_equals_torch_cells(rnn_type):
    torch.manual_seed(0)
    stack = StackedRecurrentCell(rnn_type, embed_dim=5, extra_dim=3, hidden_size=4, layers=2, dropout=0.0)
    for weights in stack.layers:
        nn.init.uniform_(weights.bias_input, -0.5, 0.5)
        nn.init.uniform_(weights.bias_hidden, -0.5, 0.5)
    emb, extra = torch.randn(2, 5), torch.randn(2, 3)
    hidden = [torch.randn(2, 4), torch.randn(2, 4)]
    cell = [torch.randn(2, 4), torch.randn(2, 4)] if rnn_type == "lstm" else None
    new_hidden, new_cell = stack.step(stack.embed_gates(emb), extra, hidden, cell)
    layer_input = torch.cat([emb, extra], 1)
    for i, weights in enumerate(stack.layers):
        reference = (nn.LSTMCell if rnn_type == "lstm" else nn.GRUCell)(layer_input.size(1), 4)
        with torch.no_grad():  # the same parameters, laid out as torch's cell keeps them
            input_weights = [w for w in (weights.weight_embed, weights.weight_input) if w is not None]
            reference.weight_ih.copy_(torch.cat(input_weights, 1))
            reference.weight_hh.copy_(weights.weight_hidden)
            reference.bias_ih.copy_(weights.bias_input)
            reference.bias_hh.copy_(weights.bias_hidden)
            if rnn_type == "lstm":
                h, c = reference(layer_input, (hidden[i], cell[i]))
                torch.testing.assert_close(new_cell[i], c)
            else:
                h = reference(layer_input, hidden[i])
        torch.testing.assert_close(new_hidden[i], h)
        layer_input = h


# --- attention, against a hand computation ---------------------------------------------------

ENC = torch.tensor([[[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [0.0, 1.0, 1.0], [9.0, 9.0, 9.0]]])  # (1, 4, 3), last = pad
VALID = torch.tensor([[True, True, True, False]])
LENGTHS = torch.tensor([3])
QUERY = torch.tensor([[0.5, 1.0, -1.0]])


def _softmax(xs: list[float]) -> list[float]:
    top = max(xs)
    exps = [math.exp(x - top) for x in xs]
    return [e / sum(exps) for e in exps]


def _expected(scores: list[float], keep: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over the kept positions, zero elsewhere; the context is the weighted sum of ENC rows."""
    kept = _softmax([s for s, k in zip(scores, keep, strict=True) if k])
    weights, it = [], iter(kept)
    for k in keep:
        weights.append(next(it) if k else 0.0)
    context = [sum(w * ENC[0, s, d].item() for s, w in enumerate(weights)) for d in range(3)]
    return torch.tensor([context]), torch.tensor([weights])


def _dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _check(attention, scores, keep, step=0):
    with torch.no_grad():
        context, weights = attention(QUERY, attention.precompute(ENC), ENC, VALID, LENGTHS, step)
    expected_context, expected_weights = _expected(scores, keep)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(context, expected_context)
    assert weights.sum().item() == pytest.approx(1.0)
    return weights


def test_dot_attention_by_hand():
    attention = RecurrentAttention(DotScore(3, 3), 3)
    scores = [_dot(QUERY[0].tolist(), ENC[0, s].tolist()) for s in range(4)]
    _check(attention, scores, [True, True, True, False])


def test_general_attention_by_hand():
    score = GeneralScore(3, 3)
    with torch.no_grad():
        score.key_proj.weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [0.5, 0.0, 0.5]]))
    W = score.key_proj.weight.tolist()
    # q^T W h_s, written out as sums
    scores = [
        sum(QUERY[0, i].item() * W[i][j] * ENC[0, s, j].item() for i in range(3) for j in range(3)) for s in range(4)
    ]
    _check(RecurrentAttention(score, 3), scores, [True, True, True, False])


def _additive_scores(score: AdditiveScore, query: list[float]) -> list[float]:
    Wq, Wk, v = score.query_proj.weight.tolist(), score.key_proj.weight.tolist(), score.v.weight[0].tolist()
    out = []
    for s in range(4):
        hidden = [math.tanh(_dot(Wq[a], query) + _dot(Wk[a], ENC[0, s].tolist())) for a in range(len(v))]
        out.append(_dot(v, hidden))
    return out


@pytest.mark.parametrize("name", ["concat", "bahdanau"])
def test_additive_attention_by_hand(name):
    """Luong's concat (from --attention-score) and Bahdanau's score (as the model builds it) by hand."""
    torch.manual_seed(3)
    if name == "concat":
        score = build_score("concat", 3, 3)
    else:
        model = _model(small(ARCHITECTURES.resolve("gru_bahdanau")[1], dim=3))
        score = model.attention.score  # its keys are the bidirectional encoder's 6-dim outputs: use 3 of them
        score.key_proj = nn.Linear(3, score.key_proj.out_features, bias=False)
    assert isinstance(score, AdditiveScore)
    _check(RecurrentAttention(score, 3), _additive_scores(score, QUERY[0].tolist()), [True, True, True, False])


def test_local_m_attention_by_hand():
    attention = RecurrentAttention(DotScore(3, 3), 3, window="local-m", window_size=1)
    scores = [_dot(QUERY[0].tolist(), ENC[0, s].tolist()) for s in range(4)]
    # step 0: centre 0, window {0, 1}; step 5: centre clamped to the last real position 2, window {1, 2}
    _check(attention, scores, [True, True, False, False], step=0)
    _check(attention, scores, [False, True, True, False], step=5)


def test_local_p_attention_by_hand():
    torch.manual_seed(4)
    attention = RecurrentAttention(DotScore(3, 3), 3, window="local-p", window_size=1)
    Wp, vp = attention.position_proj.weight.tolist(), attention.position_v.weight[0].tolist()
    z = _dot(vp, [math.tanh(_dot(row, QUERY[0].tolist())) for row in Wp])
    center = 3 * (1 / (1 + math.exp(-z)))  # S_len * sigmoid(v_p . tanh(W_p h_t))
    sigma = 1 / 2
    keep = [abs(s - center) <= 1 and s < 3 for s in range(4)]
    # align(h_t, h_s) * exp(-(s - p_t)^2 / (2 sigma^2)), renormalised over the window
    align = _softmax([_dot(QUERY[0].tolist(), ENC[0, s].tolist()) for s in range(4) if keep[s]])
    gauss = [math.exp(-((s - center) ** 2) / (2 * sigma**2)) for s in range(4) if keep[s]]
    product = [a * g for a, g in zip(align, gauss, strict=True)]
    expected = iter([p / sum(product) for p in product])
    expected_weights = torch.tensor([[next(expected) if k else 0.0 for k in keep]])
    with torch.no_grad():
        context, weights = attention(QUERY, attention.precompute(ENC), ENC, VALID, LENGTHS, 0)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(context, expected_weights @ ENC[0])
    assert all(weights[0, s] == 0 for s in range(4) if not keep[s]), "local-p weight outside its window"


def test_local_p_weights_vanish_outside_window_on_random_inputs():
    torch.manual_seed(5)
    attention = RecurrentAttention(GeneralScore(8, 8), 8, window="local-p", window_size=2)
    enc, query = torch.randn(6, 30, 8), torch.randn(6, 8)
    lengths = torch.tensor([30, 25, 12, 7, 3, 1])
    valid = torch.arange(30).unsqueeze(0) < lengths.unsqueeze(1)
    with torch.no_grad():
        _, weights = attention(query, attention.precompute(enc), enc, valid, lengths, 0)
        center = attention.center(query, lengths, 0)
    outside = (torch.arange(30).unsqueeze(0) - center.unsqueeze(1)).abs() > 2
    assert torch.all(weights[outside | ~valid] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(6))


# --- the model --------------------------------------------------------------------------------


def _reference_cell(model) -> nn.Module:
    """torch's own LSTMCell/GRUCell holding the decoder's first-layer weights."""
    weights = model.cells.layers[0]
    hidden = weights.weight_hidden.size(1)
    inputs = torch.cat([w for w in (weights.weight_embed, weights.weight_input) if w is not None], 1)
    cell = (nn.LSTMCell if model.config.rnn_type == "lstm" else nn.GRUCell)(inputs.size(1), hidden)
    with torch.no_grad():
        cell.weight_ih.copy_(inputs)
        cell.weight_hh.copy_(weights.weight_hidden)
        cell.bias_ih.copy_(weights.bias_input)
        cell.bias_hh.copy_(weights.bias_hidden)
    return cell


def _attend_by_hand(scores: torch.Tensor, values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
    return (weights.unsqueeze(2) * values).sum(1)


@pytest.mark.parametrize("variant", ["lstm", "gru_bahdanau"])
def test_decoder_steps_follow_the_papers_equations(variant):
    """Two decoder steps written out with torch's cells: what is scored from which state, what feeds what.

    Luong (lstm): h_t = LSTM([e_t; h~_{t-1}], h_{t-1}); a_t = softmax(h_t^T W_a h_s);
    h~_t = tanh(W_c [c_t; h_t]), fed to step t+1. Bahdanau (gru_bahdanau): a_t from s_{t-1} with
    v^T tanh(W s_{t-1} + U h_s); s_t = GRU([e_t; c_t], s_{t-1}); t_t = tanh(W_o [s_t; c_t; e_t]).
    """
    model = _model(VARIANTS[variant]).eval()
    src, lengths, prev = _batch()
    cell = _reference_cell(model)
    with torch.no_grad():
        enc = model.encode(src, lengths)
        values, valid = enc["encoder_out"], src.ne(1)
        hidden = enc["init_hidden"][:, 0]
        memory = enc["init_cell"][:, 0] if "init_cell" in enc else None
        feed = torch.zeros_like(hidden)
        state = None
        for t in range(2):
            embedded = model.decoder_embed(prev[:, t])
            if variant == "lstm":
                hidden, memory = cell(torch.cat([embedded, feed], 1), (hidden, memory))
                keys = values @ model.attention.score.key_proj.weight.T
                context = _attend_by_hand((keys @ hidden.unsqueeze(2)).squeeze(2), values, valid)
                expected = feed = torch.tanh(torch.cat([context, hidden], 1) @ model.combine.weight.T)
            else:
                score = model.attention.score
                energy = torch.tanh(
                    (hidden @ score.query_proj.weight.T).unsqueeze(1) + values @ score.key_proj.weight.T
                )
                context = _attend_by_hand((energy @ score.v.weight.T).squeeze(2), values, valid)
                hidden = cell(torch.cat([embedded, context], 1), hidden)
                expected = torch.tanh(torch.cat([hidden, context, embedded], 1) @ model.deep_output.weight.T)
            if model.out_proj is not None:
                expected = model.out_proj(expected)
            features, _, state = model.decode_features(prev[:, : t + 1], enc, state)
            torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_incremental_decoding_equals_full_forward(variant):
    config = VARIANTS[variant]
    model = _model(config).eval()
    assert_incremental_equals_full(model)
    # The shared check compares attention only when both paths return it: say which ones must.
    src, lengths, prev = _batch()
    with torch.no_grad():
        _, full_attn = model(src, lengths, prev)
        _, step_attn, _ = model.decode_step(prev[:, :1], model.encode(src, lengths), None)
    if config.attention == "none":
        assert full_attn is None and step_attn is None
    else:
        assert full_attn.shape == (3, prev.size(1), src.size(1)) and step_attn.shape == (3, src.size(1))


@pytest.mark.parametrize("variant", ["lstm", "gru_bahdanau", "gru_cho"])
def test_incremental_decoding_from_a_start_token_equals_full_forward(variant):
    assert_incremental_equals_full(_model(VARIANTS[variant]).eval(), start_tokens=torch.tensor([37, 38, 39]))


@pytest.mark.parametrize("variant", ["lstm", "gru_bahdanau", "seq2seq_sutskever", "bidirectional_general_proj"])
def test_padding_never_leaks_into_states(variant):
    assert_padding_invariant(_model(VARIANTS[variant]).eval())


@pytest.mark.parametrize(
    "variant", ["lstm", "gru_bahdanau", "lstm_local_p", "luong_concat_no_feed", "sutskever_shared", "gru_cho"]
)
def test_decoder_is_causal(variant):
    assert_decoder_is_causal(_model(VARIANTS[variant]).eval())


@pytest.mark.parametrize("variant", ["lstm", "gru_bahdanau", "lstm_local_p", "sutskever_shared"])
def test_reorder_state_follows_the_beam(variant):
    assert_reorder_follows_the_beam(_model(VARIANTS[variant]).eval())


def test_reverse_source_reads_backwards_but_aligns_forwards():
    """Reversal changes what the encoder computes, not where its outputs sit."""
    forward_cfg = small(RNNConfig(attention="luong"))
    model = _model(forward_cfg).eval()
    reversed_model = _model(dataclasses.replace(forward_cfg, reverse_source=True)).eval()
    src, lengths, _ = _batch()
    flipped = src.clone()
    for b, n in enumerate(lengths.tolist()):
        flipped[b, :n] = src[b, :n].flip(0)
    with torch.no_grad():
        out_reversed, *_ = reversed_model.encoder(src, lengths)
        out_plain, *_ = model.encoder(flipped, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out_reversed[b, :n], out_plain[b, :n].flip(0))


def test_lstm_preset_matches_fairseq_parameter_count():
    """fairseq's lstm (1 layer, 512, attention + input feeding): 21.1M parameters with a 9,808-type vocabulary."""
    vocab, d = 9808, 512
    lstm_layer = 4 * d * (d + d) + 2 * 4 * d  # nn.LSTM / nn.LSTMCell: W_ih, W_hh and two biases
    decoder_cell = 4 * d * (2 * d + d) + 2 * 4 * d  # input is [embedding; input feed]
    attention = d * d + 2 * d * d  # input projection, output projection over [context; hidden]
    embeddings_and_output = 2 * vocab * d + vocab * d + vocab  # encoder, decoder, output layer with bias
    expected = lstm_layer + decoder_cell + attention + embeddings_and_output
    model = _model(ARCHITECTURES.resolve("lstm")[1], vocab=vocab)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert round(expected / 1e6, 1) == 21.1


def test_every_preset_is_registered_with_its_family():
    for name in PRESETS:
        entry, config = ARCHITECTURES.resolve(name)
        assert entry.name == "rnn" and isinstance(config, RNNConfig), name


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"rnn_type": "rnn"}, "--rnn-type"),
        ({"attention": "luong", "attention_score": "dot", "encoder_bidirectional": True}, "dot attention"),
        ({"attention_window": "local-x"}, "--attention-window"),
        ({"attention": "multihead"}, "--attention"),
        ({"attention": "bahdanau", "attention_window": "local-p"}, "--attention-window has no effect"),
        ({"attention": "none", "input_feeding": False}, "--input-feeding has no effect"),
        ({"attention": "luong", "context_every_step": True}, "--context-every-step has no effect"),
        ({"attention": "luong", "local_window_size": 3}, "--local-window-size has no effect"),
    ],
)
def test_bad_configurations_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        _model(dataclasses.replace(small(RNNConfig()), **overrides))


def test_encoder_lengths_are_a_module_input_not_a_mask_guess():
    """pack_padded_sequence: an LSTM output at a padded position is exactly zero."""
    model = _model(VARIANTS["lstm"]).eval()
    src, lengths, _ = _batch()
    with torch.no_grad():
        outputs, _, _ = model.encoder(src, lengths)
    assert torch.all(outputs[0, 5:] == 0)
    assert isinstance(model.encoder.rnn, nn.LSTM)
