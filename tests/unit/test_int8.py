"""int8 inference: per-row quantization, the int8 linear layer, and int8 models searching like fp32 ones."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from tests.helpers.model_checks import assert_reorder_follows_the_beam
from toolkit.models import build_model, model_config_to_dict
from toolkit.models.fconv import FConvConfig
from toolkit.models.rnn import RNNConfig
from toolkit.models.transformer import TransformerConfig
from toolkit.quantize.int8 import Int8Linear, dequantize_rows, quantize_rows
from toolkit.quantize.model import Int8Model, Int8RecurrentCell, quantize_model, quantize_state
from toolkit.search import SearchConfig, SequenceGenerator


def test_quantize_rows_is_within_half_a_step_of_each_row():
    torch.manual_seed(0)
    weight = torch.randn(6, 10) * torch.tensor([0.01, 0.1, 1, 10, 100, 0])[:, None]
    values, scale = quantize_rows(weight)
    assert values.dtype == torch.int8 and scale.dtype == torch.float32 and int(values.abs().max()) <= 127
    error = (dequantize_rows(values, scale) - weight).abs()
    assert bool((error <= scale[:, None] / 2 + 1e-7 * weight.abs()).all())
    assert float(scale[-1]) == 1.0 and not dequantize_rows(values, scale)[-1].any()  # a zero row stays zero


def _activation_step(x: torch.Tensor) -> torch.Tensor:
    """Int8Linear's activation step for a call on x: one 7-bit range over the whole input, 0 included."""
    return (x.max().clamp(min=0) - x.min().clamp(max=0)) / 127


def test_int8_linear_is_as_close_to_fp32_as_per_channel_quantization_allows():
    torch.manual_seed(0)
    weight, bias = torch.randn(48, 32) * 0.2, torch.randn(48)
    x = torch.randn(20, 32)
    layer = Int8Linear.from_float(weight, bias)
    out = layer(x)
    reference = F.linear(x, weight, bias)
    # Rounding moves a weight at most half its row's step s_n and an activation at most half the
    # call's step a: |error| <= s_n/2 |x_m|_1 + a/2 |W_n|_1 + K a s_n / 4, for every output.
    _, scale = quantize_rows(weight)
    step = _activation_step(x)
    bound = (scale / 2) * x.abs().sum(1, keepdim=True) + (step / 2) * weight.abs().sum(1) + 32 * step * scale / 4
    assert bool(((out - reference).abs() <= bound + 1e-5).all())
    # The rounding errors are random and mostly cancel: 2% of the output's RMS (about 0.2 of the bound).
    assert float((out - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt()) < 0.03
    assert float((out - reference).abs().mean() / bound.mean()) < 0.3
    assert out.shape == (20, 48) and layer(x.view(4, 5, 32)).shape == (4, 5, 48)
    assert layer(x[:0]).shape == (0, 48)


def test_tied_matrices_are_quantized_once_and_vectors_stay_float():
    embed = torch.randn(10, 4)
    state = {"a.weight": embed, "b.weight": embed, "c.weight": embed.clone(), "norm.weight": torch.ones(4)}
    weights, scales = quantize_state(state)  # c: the copy an averaged checkpoint holds
    assert weights["a.weight"] is weights["b.weight"] is weights["c.weight"] and weights["a.weight"].dtype == torch.int8
    assert set(scales) == {"a.weight", "b.weight", "c.weight"} and weights["norm.weight"].dtype == torch.float32


SMALL_TRANSFORMER = TransformerConfig(
    encoder_embed_dim=32,
    encoder_ffn_embed_dim=64,
    encoder_layers=2,
    encoder_attention_heads=4,
    decoder_embed_dim=32,
    decoder_ffn_embed_dim=64,
    decoder_layers=2,
    decoder_attention_heads=4,
    share_all_embeddings=True,
)
SMALL_RNN = dict(
    encoder_embed_dim=24, encoder_hidden_size=24, decoder_embed_dim=24, decoder_hidden_size=24, decoder_out_embed_dim=24
)
SMALL_FCONV = FConvConfig(
    encoder_embed_dim=24, encoder_layers="[(32, 3)] * 2", decoder_embed_dim=24, decoder_layers="[(32, 3)] * 2",
    decoder_out_embed_dim=24,
)  # fmt: skip
MODELS = {
    "transformer": ("transformer", SMALL_TRANSFORMER),
    "fconv": ("fconv", SMALL_FCONV),
    "lstm_luong": ("rnn", RNNConfig(**SMALL_RNN, decoder_layers=2)),
    "gru_bahdanau": ("rnn", RNNConfig(**SMALL_RNN, rnn_type="gru", attention="bahdanau", encoder_bidirectional=True)),
}
VOCAB = 40


def _peaked_model(name: str) -> torch.nn.Module:
    """A random model with peaked distributions (logits scaled to std 3), so the best path is well defined."""
    family, config = MODELS[name]
    torch.manual_seed(0)
    model = build_model(model_config_to_dict(family, config), VOCAB, VOCAB, 1, 2).eval()
    src, lengths = _sources()
    with torch.no_grad():
        features, _, _ = model.decode_features(torch.full((len(src), 1), 2), model.encode(src, lengths), None)
        scale = 3 / model.output_layer(features).std()
        projection = getattr(model, "output_projection", None)
        # ConvS2S computes its projection from weight norm's (v, g): scale g, the rows' norms.
        (projection.weight_g if hasattr(projection, "weight_g") else model.output_weight).mul_(scale)
    return model


def _sources(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    lengths = torch.randint(3, 9, (n,), generator=generator)
    src = torch.randint(4, VOCAB, (n, int(lengths.max())), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        src[row, length - 1] = 2
        src[row, length:] = 1
    return src, lengths


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_model_searches_like_fp32(name):
    src, lengths = _sources()
    fp32 = SequenceGenerator([_peaked_model(name)], SearchConfig(beam=4, max_len_b=10))
    expected = [hyps[0] for hyps in fp32.generate(src, lengths)]
    int8 = quantize_model(_peaked_model(name))
    assert isinstance(int8, Int8Model) and not any(isinstance(m, torch.nn.Linear) for m in int8.modules())
    if name not in ("transformer", "fconv"):
        assert isinstance(int8.model.cells, Int8RecurrentCell)
    got = [hyps[0] for hyps in SequenceGenerator([int8], SearchConfig(beam=4, max_len_b=10)).generate(src, lengths)]
    same = sum(torch.equal(a.tokens, b.tokens) for a, b in zip(expected, got, strict=True))
    assert same > len(expected) / 2, f"{name}: {same} of {len(expected)} identical"
    # Scores are mean log-probabilities per token (lenpen 1): the same hypotheses score within
    # 0.1 nats a token of each other, and the median sentence's best score moves less than 0.05.
    differences = [abs(a.score - b.score) for a, b in zip(expected, got, strict=True)]
    identical = [d for d, a, b in zip(differences, expected, got, strict=True) if torch.equal(a.tokens, b.tokens)]
    assert max(identical) < 0.1 and float(torch.tensor(differences).median()) < 0.05, differences
    assert_reorder_follows_the_beam(int8, duplicate_rows=False)  # activation scales are per batch
