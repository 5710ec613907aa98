"""The Transformer: the shared model checks (tests/helpers/model_checks.py) over variants; presets; attention."""

import dataclasses

import pytest
import torch

from tests.helpers.model_checks import (
    assert_decoder_is_causal,
    assert_incremental_equals_full,
    assert_padding_invariant,
    assert_reorder_follows_the_beam,
    decoder_batch,
)
from toolkit.models import build_model, model_config_to_dict
from toolkit.models.transformer import TransformerConfig
from toolkit.modules.multihead_attention import MultiheadAttention, _explicit_attention
from toolkit.registry import ARCHITECTURES

SMALL = TransformerConfig(
    encoder_embed_dim=32,
    encoder_ffn_embed_dim=64,
    encoder_layers=2,
    encoder_attention_heads=4,
    decoder_embed_dim=32,
    decoder_ffn_embed_dim=64,
    decoder_layers=2,
    decoder_attention_heads=4,
)


def _model(**overrides):
    config = dataclasses.replace(SMALL, **overrides)
    torch.manual_seed(0)
    model = build_model(
        {"arch": "transformer", "family": "transformer", "params": dataclasses.asdict(config)}, 40, 40, 1, 2
    )
    return model.eval()


_batch = decoder_batch


VARIANTS = [{}, {"normalize_before": True}, {"learned_pos": True}, {"share_all_embeddings": True}]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_incremental_decoding_equals_full_forward(overrides):
    model = _model(**overrides)
    assert_incremental_equals_full(model)
    # The full pass returns no attention, so the shared check compares none: check decode_step's here.
    src, lengths, prev = _batch()
    with torch.no_grad():
        assert model(src, lengths, prev)[1] is None
        encoder_out, state = model.encode(src, lengths), None
        for t in range(1, prev.size(1) + 1):
            _, attn, state = model.decode_step(prev[:, :t], encoder_out, state)
            assert attn.shape == (3, 7)  # (B, S): one row per sentence for the newest position
            torch.testing.assert_close(attn.sum(-1), torch.ones(3))
            assert torch.all(attn[0, 5:] == 0), "attention must not reach source padding"


@pytest.mark.parametrize("overrides", [{}, {"share_all_embeddings": True}])
def test_incremental_decoding_from_a_start_token_equals_full_forward(overrides):
    assert_incremental_equals_full(_model(**overrides), start_tokens=torch.tensor([37, 38, 39]))


@pytest.mark.parametrize("overrides", VARIANTS)
def test_padding_does_not_change_the_output(overrides):
    assert_padding_invariant(_model(**overrides))


@pytest.mark.parametrize("overrides", VARIANTS)
def test_decoder_is_causal(overrides):
    assert_decoder_is_causal(_model(**overrides))


@pytest.mark.parametrize("overrides", [{}, {"normalize_before": True}])
def test_reorder_state_follows_the_beam(overrides):
    assert_reorder_follows_the_beam(_model(**overrides))


def test_presets_resolve_with_published_sizes():
    expected = {
        "transformer_small": (3, 256, 4, 1024),
        "transformer_tiny": (4, 128, 4, 256),
        "transformer": (6, 512, 8, 2048),
        "transformer_big": (6, 1024, 16, 4096),
    }
    for name, (layers, dim, heads, ffn) in expected.items():
        _, config = ARCHITECTURES.resolve(name)
        assert (
            config.encoder_layers,
            config.encoder_embed_dim,
            config.encoder_attention_heads,
            config.encoder_ffn_embed_dim,
        ) == (layers, dim, heads, ffn)
    _, tiny = ARCHITECTURES.resolve("transformer_tiny")
    assert tiny.dropout == 0.3 and tiny.share_all_embeddings
    _, small = ARCHITECTURES.resolve("transformer_small")
    model = build_model(model_config_to_dict("transformer_small", small), 10000, 10000, 1, 2)
    # 3+3 layers at 256/1024 with one shared 10k embedding: about 8M parameters (fairseq: 8.04M).
    assert 7.9e6 < sum(p.numel() for p in model.parameters()) < 8.2e6


def test_attention_matches_hand_computation():
    torch.manual_seed(0)
    attention = MultiheadAttention(8, 2, self_attention=False).eval()
    query, memory = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    mask = torch.tensor([True, True, True, False])[None, None, None, :]
    with torch.no_grad():
        out = attention(query, memory_kv=attention.project_kv(memory), attn_mask=mask)
        q = query @ attention.q_proj.weight.T + attention.q_proj.bias
        kv = memory @ attention.kv_proj.weight.T + attention.kv_proj.bias
        k, v = kv[..., :8], kv[..., 8:]
        heads = []
        for h in range(2):
            qs, ks, vs = q[0, :, 4 * h : 4 * h + 4], k[0, :3, 4 * h : 4 * h + 4], v[0, :3, 4 * h : 4 * h + 4]
            weights = torch.softmax(qs @ ks.T / 2.0, dim=-1)  # sqrt(head dim 4) = 2
            heads.append(weights @ vs)
        expected = torch.cat(heads, dim=-1) @ attention.out_proj.weight.T + attention.out_proj.bias
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_explicit_attention_equals_sdpa(causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., 3:] = False
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=None if causal else mask, is_causal=causal
    )
    torch.testing.assert_close(_explicit_attention(q, k, v, None if causal else mask, 0.0, causal), expected)


def test_bf16_training_forward_runs_and_is_close_to_fp32():
    model = _model()
    model.train()
    src, lengths, prev = _batch()
    torch.manual_seed(5)
    features32, _ = model(src, lengths, prev)
    torch.manual_seed(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features16, _ = model(src, lengths, prev)
    assert (features16.float() - features32).abs().mean() < 0.1
