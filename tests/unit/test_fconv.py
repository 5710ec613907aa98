"""ConvS2S (fconv): the shared interface checks, the paper's formulas by hand, initialisation, specs, presets."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import pytest
import torch
from torch.nn import functional as F

from tests.helpers.model_checks import (
    assert_decoder_is_causal,
    assert_incremental_equals_full,
    assert_padding_invariant,
    assert_reorder_follows_the_beam,
    decoder_batch,
)
from toolkit.models import build_model, model_config_to_dict
from toolkit.models.fconv import ConvGLUBlock, FConvConfig, FConvModel, MultiStepAttention
from toolkit.modules.conv_tbc import conv_tbc
from toolkit.modules.grad_multiply import grad_multiply
from toolkit.modules.layer_spec import parse_attention, parse_conv_layers
from toolkit.modules.weight_norm import WeightNormConv1d, WeightNormLinear
from toolkit.registry import ARCHITECTURES

SMALL = FConvConfig(
    encoder_embed_dim=16,
    encoder_layers="[(32, 3)] * 2",
    decoder_embed_dim=16,
    decoder_layers="[(32, 3)] * 2",
    decoder_out_embed_dim=24,
    dropout=0.1,
    max_source_positions=64,
    max_target_positions=64,
)


def _model(**overrides) -> FConvModel:
    config = dataclasses.replace(SMALL, **overrides)
    torch.manual_seed(0)
    return build_model(model_config_to_dict("fconv", config), 40, 40, 1, 2).eval()


# Decoder stacks: widths 2, 3 and 5, a width change with a 1x1 convolution, attention in some layers only.
DECODERS = {
    "k2": {"decoder_layers": "[(32, 2)] * 3"},
    "k3": {},
    "k5": {"decoder_layers": "[(32, 5)] * 2"},
    "widths": {"decoder_layers": "[(16, 3), (32, 3), (24, 1)]", "decoder_attention": "[True, False, True]"},
    "shared": {"decoder_out_embed_dim": 16, "share_input_output_embed": True},
}
# A batch longer than the receptive field (1 + sum of k - 1 = 9 for two width-5 layers), so the
# cached window really slides.
LONG = decoder_batch(max_len=9, steps=12)


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_incremental_decoding_equals_full_forward(name):
    assert_incremental_equals_full(_model(**DECODERS[name]), batch=LONG)


def test_incremental_decoding_from_a_start_token_equals_full_forward():
    assert_incremental_equals_full(_model(decoder_layers="[(32, 5)] * 2"), start_tokens=torch.tensor([37, 38, 39]))


# Encoder stacks: even widths (padded one more on the right), a width change with its projection.
ENCODERS = ["[(32, 3)] * 2", "[(32, 2), (32, 4)]", "[(16, 5), (32, 3), (24, 1)]"]


@pytest.mark.parametrize("encoder_layers", ENCODERS)
def test_padding_does_not_change_the_output(encoder_layers):
    assert_padding_invariant(_model(encoder_layers=encoder_layers), batch=LONG)


@pytest.mark.parametrize("name", ["k2", "k5", "widths"])
def test_decoder_is_causal(name):
    assert_decoder_is_causal(_model(**DECODERS[name]), batch=decoder_batch(max_len=7, steps=8))


@pytest.mark.parametrize("name", ["k3", "k5", "widths"])
def test_reorder_state_follows_the_beam(name):
    assert_reorder_follows_the_beam(_model(**DECODERS[name]))


def test_state_holds_the_last_k_minus_1_inputs_of_each_layer():
    model = _model(decoder_layers="[(16, 3), (32, 5), (24, 1)]")
    src, lengths, prev = decoder_batch()
    with torch.no_grad():
        enc = model.encode(src, lengths)
        _, _, state = model.decode_step(prev[:, :1], enc, None)
        _, _, state = model.decode_step(prev[:, :2], enc, state)
    assert [tuple(h.shape) for h in state["history"]] == [(3, 2, 16), (3, 4, 16), (3, 0, 32)]
    # the window slides: after two steps layer 0 holds exactly the inputs it saw at steps 0 and 1
    with torch.no_grad():
        _, _, full = model.decode_step(prev[:, :3], enc, state)
    torch.testing.assert_close(full["history"][0][:, 0], state["history"][0][:, 1])


# --- the paper's formulas, by hand --------------------------------------------------


def test_multi_step_attention_matches_hand_computation():
    torch.manual_seed(0)
    conv_dim, embed_dim, src_len, tgt_len = 3, 4, 3, 2
    attention = MultiStepAttention(conv_dim, embed_dim).eval()
    h = torch.randn(tgt_len, 2, conv_dim)  # GLU outputs, time-major
    g = torch.randn(tgt_len, 2, embed_dim)  # target embeddings
    z, e = torch.randn(2, src_len, embed_dim), torch.randn(2, src_len, embed_dim)
    real = [3, 2]  # sentence 1 has one padded position
    padding = torch.tensor([[False, False, False], [False, False, True]])
    enc = {
        "keys": z.transpose(1, 2),
        "values": (z + e) * math.sqrt(0.5),
        "padding": padding[:, None, :],
        "scale": torch.tensor(real, dtype=torch.float32).sqrt().view(2, 1, 1),
    }
    with torch.no_grad():
        out, weights = attention(h, g, enc)
        w_d, b_d = attention.in_proj.weight(), attention.in_proj.bias
        w_c, b_c = attention.out_proj.weight(), attention.out_proj.bias
    for b in range(2):
        m = real[b]
        for t in range(tgt_len):
            d = (w_d @ h[t, b] + b_d + g[t, b]) * math.sqrt(0.5)
            scores = torch.stack([d @ z[b, j] for j in range(m)])
            a = torch.exp(scores) / torch.exp(scores).sum()
            context = sum(a[j] * (z[b, j] + e[b, j]) * math.sqrt(0.5) for j in range(m))
            context = context * (m * math.sqrt(1.0 / m))  # the paper's rescaling by the source length
            expected = (w_c @ context + b_c + h[t, b]) * math.sqrt(0.5)
            torch.testing.assert_close(out[t, b], expected, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(weights[b, t, :m], a, atol=1e-6, rtol=1e-5)
            assert torch.all(weights[b, t, m:] == 0)


def _hand_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """out[o, t] = bias[o] + sum_{i, j} weight[o, i, j] * x[i, t + j], x already padded (C_in, T + k - 1)."""
    out_channels, in_channels, kernel = weight.shape
    length = x.size(1) - kernel + 1
    out = torch.zeros(out_channels, length)
    for o in range(out_channels):
        for t in range(length):
            total = bias[o].clone()
            for i in range(in_channels):
                for j in range(kernel):
                    total = total + weight[o, i, j] * x[i, t + j]
            out[o, t] = total
    return out


@pytest.mark.parametrize(("kernel", "causal", "left", "right"), [(3, False, 1, 1), (2, False, 0, 1), (3, True, 2, 0)])
def test_glu_block_is_a_times_sigmoid_b_of_the_convolution(kernel, causal, left, right):
    torch.manual_seed(0)
    block = ConvGLUBlock(3, 2, kernel, dropout=0.0, causal=causal).eval()
    x = torch.randn(5, 1, 3)  # (T, B, C)
    with torch.no_grad():
        out, _ = block(x)
        padded = torch.cat([torch.zeros(3, left), x[:, 0].T, torch.zeros(3, right)], dim=1)
        conv = _hand_conv(padded, block.conv.weight(), block.conv.bias)
    a, b = conv[:2], conv[2:]
    torch.testing.assert_close(out[:, 0].T, a * torch.sigmoid(b), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_time_major_convolution_equals_conv1d_forward_and_backward(kernel):
    torch.manual_seed(0)
    x = torch.randn(9 + kernel - 1, 4, 6, requires_grad=True)  # (T + k - 1, B, in), padded
    weight = torch.randn(10, 6, kernel, requires_grad=True)  # conv1d's (out, in, k)
    bias = torch.randn(10, requires_grad=True)
    upstream = torch.randn(9, 4, 10)
    out = conv_tbc(x, weight.permute(2, 0, 1).contiguous(), bias)
    out.backward(upstream)
    grads = [t.grad.clone() for t in (x, weight, bias)]
    for t in (x, weight, bias):
        t.grad = None
    expected = F.conv1d(x.permute(1, 2, 0), weight, bias).permute(2, 0, 1)  # (T, B, out)
    expected.backward(upstream)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for got, t in zip(grads, (x, weight, bias), strict=True):
        torch.testing.assert_close(got, t.grad, atol=1e-4, rtol=1e-5)
    with torch.no_grad():  # the inference path (no autograd function) computes the same
        torch.testing.assert_close(conv_tbc(x, weight.permute(2, 0, 1).contiguous(), bias), expected)


def test_encoder_residuals_are_scaled_by_sqrt_half_and_projected_where_the_width_changes():
    model = _model(encoder_layers="[(8, 3), (12, 3)]")
    encoder = model.encoder
    src = torch.tensor([[5, 6, 7, 2]])
    with torch.no_grad():
        enc = model.encode(src, torch.tensor([4]))
        e = encoder.embed.weight[src[0]] + encoder.positions.weight[:4]  # (S, E)
        x = (encoder.fc1.weight() @ e.T) + encoder.fc1.bias[:, None]  # (8, S)
        h0, _ = encoder.blocks[0](x.T[:, None])
        x = (h0[:, 0].T + x) * math.sqrt(0.5)  # same width: identity residual
        h1, _ = encoder.blocks[1](x.T[:, None])
        proj = encoder.blocks[1].residual_proj
        x = (h1[:, 0].T + proj.weight() @ x + proj.bias[:, None]) * math.sqrt(0.5)  # 8 -> 12: projected
        z = encoder.fc2.weight() @ x + encoder.fc2.bias[:, None]  # (E, S)
    assert encoder.blocks[0].residual_proj is None
    torch.testing.assert_close(enc["keys"][0], z, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(enc["values"][0], (z.T + e) * math.sqrt(0.5), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(enc["scale"].view(-1), torch.tensor([2.0]))  # sqrt(4 real tokens)


# --- weight normalisation and initialisation ----------------------------------------------


def test_weight_norm_initialisation_follows_the_paper():
    torch.manual_seed(0)
    dropout, kernel, width = 0.2, 3, 256
    block = ConvGLUBlock(width, width, kernel, dropout, causal=True)
    conv_std = math.sqrt(4 * (1 - dropout) / (kernel * width))  # 393,216 draws: the sample std is within 1%
    assert abs(block.conv.weight_v.std().item() / conv_std - 1) < 0.02
    linear = WeightNormLinear(512, 256, std=math.sqrt((1 - dropout) / 512))
    assert abs(linear.weight_v.std().item() / math.sqrt(0.8 / 512) - 1) < 0.02
    for layer in (block.conv, linear):
        norms = torch.linalg.vector_norm(layer.weight_v.detach().flatten(1), dim=1)
        torch.testing.assert_close(layer.weight_g.detach(), norms)  # g = ||v||, so W = v at the start
        torch.testing.assert_close(layer.weight().detach(), layer.weight_v.detach())
        assert torch.all(layer.bias == 0)


def test_model_initialisation_embeddings_and_biases():
    torch.manual_seed(0)
    _, config = ARCHITECTURES.resolve("fconv_iwslt_de_en")
    model = build_model(model_config_to_dict("fconv_iwslt_de_en", config), 2000, 2000, 1, 2)
    for embed in (model.encoder.embed, model.decoder.embed):
        assert abs(embed.weight[2:].std().item() / 0.1 - 1) < 0.02
        assert torch.all(embed.weight[1] == 0)  # pad row
    for positions in (model.encoder.positions, model.decoder.positions):
        assert abs(positions.weight.std().item() / 0.1 - 1) < 0.02
    assert all(torch.all(p == 0) for name, p in model.named_parameters() if name.endswith("bias"))
    # The vocabulary projection's input has had dropout: std sqrt((1 - p) / in)
    std = math.sqrt((1 - config.dropout) / 256)
    assert abs(model.output_projection.weight_v.std().item() / std - 1) < 0.02


def test_weight_norm_is_g_times_the_direction_of_v():
    torch.manual_seed(0)
    conv = WeightNormConv1d(4, 6, 3, std=1.0)
    with torch.no_grad():
        conv.weight_g.copy_(torch.arange(1.0, 7.0))
        before = conv.weight().clone()
        conv.weight_v.mul_(3.0)  # only the direction of v counts
    torch.testing.assert_close(conv.weight(), before)
    torch.testing.assert_close(torch.linalg.vector_norm(before.flatten(1), dim=1), torch.arange(1.0, 7.0))


def test_inference_weight_cache_follows_parameter_updates():
    model = _model()
    with torch.no_grad():
        first = model.output_weight.clone()
        model.output_projection.weight_g.mul_(2.0)  # what an optimizer step or load_state_dict does
        torch.testing.assert_close(model.output_weight, first * 2.0)
        model.load_state_dict(_model().state_dict())
        torch.testing.assert_close(model.output_weight, first)


def test_checkpoint_round_trip_with_weights_only():
    model = _model(decoder_layers="[(16, 3), (32, 3)]", decoder_attention="[False, True]")
    src, lengths, prev = decoder_batch()
    buffer = io.BytesIO()
    record = model_config_to_dict("fconv", model.config)
    json.dumps(record)  # plain data: the layer specs stay strings
    torch.save({"model_config": record, "model": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert saved["model_config"]["params"]["decoder_layers"] == "[(16, 3), (32, 3)]"
    assert {"decoder.blocks.0.conv.weight_v", "decoder.blocks.0.conv.weight_g"} <= set(saved["model"])
    torch.manual_seed(5)
    loaded = build_model(saved["model_config"], 40, 40, 1, 2).eval()
    loaded.load_state_dict(saved["model"])
    with torch.no_grad():
        expected, _ = model(src, lengths, prev)
        got, _ = loaded(src, lengths, prev)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


# --- the encoder's gradient scaling ----------------------------------------------------


def test_grad_multiply_is_identity_forward_and_scales_backward():
    x = torch.randn(3, 4, requires_grad=True)
    upstream = torch.randn(3, 4)
    y = grad_multiply(x, 0.25)
    assert torch.equal(y, x)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, upstream * 0.25, atol=0, rtol=0)


def test_encoder_gradient_is_scaled_by_one_over_twice_the_attention_layers():
    src, lengths, prev = decoder_batch()

    def encoder_conv_grad(grad_scale: float | None) -> tuple[torch.Tensor, float]:
        model = _model(decoder_layers="[(32, 3)] * 3", decoder_attention="[True, False, True]")
        scale = model.encoder.grad_scale
        if grad_scale is not None:
            model.encoder.grad_scale = grad_scale
        features, _ = model(src, lengths, prev)
        model.output_layer(features).logsumexp(-1).sum().backward()
        return model.encoder.blocks[0].conv.weight_v.grad, scale

    scaled, scale = encoder_conv_grad(None)
    unscaled, _ = encoder_conv_grad(1.0)
    assert scale == 1 / (2 * 2)  # two attention layers
    torch.testing.assert_close(scaled, unscaled * scale, atol=1e-7, rtol=1e-5)


# --- layer specs, configs, presets ------------------------------------------------------


def test_layer_specs_parse_fairseq_spellings_without_eval():
    assert parse_conv_layers("[(256, 3)] * 4", "--encoder-layers") == [(256, 3)] * 4
    assert parse_conv_layers("[(256,3),(256,3)]", "--encoder-layers") == [(256, 3), (256, 3)]
    wmt = parse_conv_layers("[(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2", "--encoder-layers")
    assert wmt == [(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2
    assert parse_conv_layers(" 2 * [(8, 5),] + [(16, 1)] ", "--x") == [(8, 5), (8, 5), (16, 1)]
    assert parse_attention("True", 3, "--decoder-attention") == [True] * 3
    assert parse_attention("[True, False] * 2", 4, "--decoder-attention") == [True, False, True, False]


@pytest.mark.parametrize(
    "spec", ["[(256, 3)] * x", "import os", "[(256,)]", "[(256, 3, 1)]", "[]", "[(0, 3)]", "[(8, 3)] * 5000", ""]
)
def test_bad_layer_specs_fail_in_one_line_naming_the_spec(spec):
    with pytest.raises(ValueError) as error:
        parse_conv_layers(spec, "--encoder-layers")
    message = str(error.value)
    assert message.startswith(f"--encoder-layers {spec!r} is not a layer spec") and "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"decoder_attention": "[True]"}, "--decoder-attention '[True]' is not an attention spec (1 flags for 2"),
        ({"decoder_attention": "False"}, "gives no layer attention"),
        ({"decoder_layers": "__import__('os')"}, "--decoder-layers \"__import__('os')\" is not a layer spec"),
        ({"share_input_output_embed": True}, "--share-input-output-embed needs --decoder-out-embed-dim"),
        ({"dropout": 1.0}, "--dropout must be in [0, 1)"),
    ],
)
def test_build_refuses_bad_configs_in_one_line(overrides, expected):
    with pytest.raises(ValueError) as error:
        FConvModel.build(dataclasses.replace(SMALL, **overrides), 40, 40, 1, 2)
    assert expected in str(error.value) and "\n" not in str(error.value)


def _linear_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out + n_out  # v, g (one per output unit), bias


def _conv_params(n_in: int, dim: int, kernel: int) -> int:
    return _linear_params(n_in * kernel, 2 * dim)  # a GLU convolution has 2 * dim output channels


def test_fconv_iwslt_de_en_parameter_count_on_a_multi30k_sized_vocabulary():
    """11,496,608 with the 9,808-symbol joined Multi30k dictionary (fairseq: about 11.4M on IWSLT's)."""
    vocab, embed, positions, width = 9808, 256, 1024, 256
    encoder = (
        vocab * embed
        + positions * embed
        + _linear_params(embed, width)
        + 4 * _conv_params(width, width, 3)
        + _linear_params(width, embed)
    )
    decoder = (
        vocab * embed
        + positions * embed
        + _linear_params(embed, width)
        + 3 * (_conv_params(width, width, 3) + _linear_params(width, embed) + _linear_params(embed, width))
        + _linear_params(width, 256)
    )
    expected = encoder + decoder + _linear_params(256, vocab)
    _, config = ARCHITECTURES.resolve("fconv_iwslt_de_en")
    model = build_model(model_config_to_dict("fconv_iwslt_de_en", config), vocab, vocab, 1, 2)
    assert sum(p.numel() for p in model.parameters()) == expected == 11_496_608


def test_presets_resolve_with_published_sizes():
    expected = {
        "fconv": (512, 20, 20, 256, 0.1),
        "fconv_iwslt_de_en": (256, 4, 3, 256, 0.1),
        "conv_s2s": (256, 4, 3, 256, 0.2),
        "fconv_wmt_en_de": (768, 15, 15, 512, 0.1),
        "fconv_wmt_en_fr": (768, 15, 15, 512, 0.1),
    }
    for name, (embed, enc_layers, dec_layers, out, dropout) in expected.items():
        entry, config = ARCHITECTURES.resolve(name)
        assert entry.cls is FConvModel
        encoder = parse_conv_layers(config.encoder_layers, "")
        decoder = parse_conv_layers(config.decoder_layers, "")
        got = (config.encoder_embed_dim, len(encoder), len(decoder), config.decoder_out_embed_dim, config.dropout)
        assert got == (embed, enc_layers, dec_layers, out, dropout), name
    _, en_fr = ARCHITECTURES.resolve("fconv_wmt_en_fr")
    widths = [dim for dim, _ in parse_conv_layers(en_fr.encoder_layers, "")]
    assert widths == [512] * 6 + [768] * 4 + [1024] * 3 + [2048, 4096]
    _, en_de = ARCHITECTURES.resolve("fconv_wmt_en_de")
    assert parse_conv_layers(en_de.decoder_layers, "")[-2:] == [(2048, 1), (2048, 1)]


# --- attention outputs, bf16 ---------------------------------------------------------


def test_returned_attention_is_the_mean_over_attention_layers():
    model = _model(decoder_layers="[(32, 3)] * 3", decoder_attention="[True, False, True]")
    src, lengths, prev = decoder_batch()
    with torch.no_grad():
        _, mean = model(src, lengths, prev)
        _, per_layer = model(src, lengths, prev, return_all_attention=True)
    assert per_layer.shape == (3, 2, 6, 7)
    torch.testing.assert_close(mean, (per_layer[:, 0] + per_layer[:, 1]) / 2)
    assert not torch.allclose(per_layer[:, 0], per_layer[:, 1])


def test_bf16_training_forward_runs_and_is_close_to_fp32():
    model = _model().train()
    src, lengths, prev = decoder_batch()
    torch.manual_seed(5)
    features32, _ = model(src, lengths, prev)
    torch.manual_seed(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features16, attn16 = model(src, lengths, prev)
        logits = model.output_layer(features16)
    assert (features16.float() - features32).abs().mean() < 0.05 * features32.abs().mean()
    assert torch.isfinite(logits).all() and attn16.dtype == torch.float32
    logits.float().logsumexp(-1).sum().backward()
    assert torch.isfinite(model.encoder.embed.weight.grad).all()


def test_a_model_cast_to_bf16_decodes():
    model = _model(decoder_layers="[(16, 3), (32, 2)]").to(torch.bfloat16)
    src, lengths, prev = decoder_batch()
    with torch.no_grad():
        enc = model.encode(src, lengths)
        log_probs, attn, state = model.decode_step(prev[:, :1], enc, None)
        log_probs, attn, state = model.decode_step(prev[:, :2], enc, state)
    assert torch.isfinite(log_probs).all() and state["history"][0].dtype == torch.bfloat16


def test_learned_source_positions_are_checked():
    model = _model(max_source_positions=8)
    with pytest.raises(ValueError, match="exceeds the maximum 8"):
        model.encode(torch.full((1, 9), 5), torch.tensor([9]))
    assert model.max_positions() == (8, 64)
