"""ByteNet: the shared interface checks, receptive fields measured against the dilations, dynamic
unfolding (zeros beyond |t^| in training and in search), per-position normalization, configs."""

import dataclasses
import re

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
from toolkit.models.bytenet import ByteNetConfig, dilations, receptive_field, unfolded_lengths
from toolkit.registry import ARCHITECTURES, config_from_dict
from toolkit.search.config import SearchConfig
from toolkit.search.generator import SequenceGenerator

D = 16
SMALL = ByteNetConfig(model_dim=D, source_blocks=3, target_blocks=4, max_dilation=4, dropout=0.0)


def _model(**overrides):
    torch.manual_seed(0)
    config = dataclasses.replace(SMALL, **overrides)
    return build_model(model_config_to_dict("bytenet", config), 40, 40, 1, 2).eval()


def _long_batch():
    """Sources of 7 and 9 tokens (|t^| = 8, 10, 10 at a = 1.2), 24 target steps: well past |t^|."""
    return decoder_batch(max_len=9, steps=24)


# Target receptive fields 17, 16, 13, 9: each shorter than the 24 steps, so the buffers wrap around.
SHAPES = [
    {},
    {"target_kernel_size": 2, "source_kernel_size": 5, "max_dilation": 8},
    {"target_kernel_size": 4, "max_dilation": 2, "target_blocks": 3},
    {"max_dilation": 1, "share_input_output_embed": True, "unfold_a": 0.5, "unfold_b": 2.0},
]


@pytest.mark.parametrize("overrides", SHAPES)
def test_incremental_decoding_equals_full_forward(overrides):
    model = _model(**overrides)
    assert model.receptive_field() < 24
    assert_incremental_equals_full(model, batch=_long_batch())
    assert_incremental_equals_full(model, start_tokens=torch.tensor([37, 38, 39]), batch=_long_batch())


@pytest.mark.parametrize("overrides", SHAPES)
def test_padding_causality_and_reordering(overrides):
    model = _model(**overrides)
    assert_padding_invariant(model, _long_batch())
    assert_decoder_is_causal(model, _long_batch())
    assert_reorder_follows_the_beam(model, _long_batch())


def test_no_attention_in_either_path():
    model = _model()
    src, lengths, prev = _long_batch()
    with torch.no_grad():
        features, attn = model(src, lengths, prev)
        _, step_attn, _ = model.decode_step(prev[:, :1], model.encode(src, lengths), None, need_attn=True)
    assert features.shape == (3, 24, D) and attn is None and step_attn is None


# --- receptive fields ------------------------------------------------------------------


@pytest.mark.parametrize(("kernel", "max_dilation", "expected"), [(3, 8, 31), (2, 8, 16), (4, 2, 19)])
def test_target_receptive_field_measured_equals_computed(kernel, max_dilation, expected):
    """Perturbing target input j changes exactly the outputs j .. j + field - 1."""
    model = _model(target_kernel_size=kernel, max_dilation=max_dilation)
    assert model.receptive_field() == expected == receptive_field(kernel, dilations(4, max_dilation))
    src, lengths, prev = decoder_batch(max_len=9, steps=expected + 12)
    with torch.no_grad():
        before, _ = model(src, lengths, prev)
        for j in (1, 5, 11):
            changed = prev.clone()
            changed[:, j] = 4 + (changed[:, j] - 4 + 17) % 36
            after, _ = model(src, lengths, changed)
            moved = (after - before).abs().amax(dim=(0, 2)) > 1e-5  # (T,)
            assert moved.nonzero().flatten().tolist() == list(range(j, j + expected))


@pytest.mark.parametrize(("kernel", "max_dilation", "reach"), [(3, 4, 7), (5, 8, 14)])
def test_source_receptive_field_is_centred_and_measured_equals_computed(kernel, max_dilation, reach):
    """Perturbing source token j changes exactly the columns j - reach .. j + reach."""
    model = _model(source_kernel_size=kernel, max_dilation=max_dilation, unfold_a=1.0)
    assert model.source_receptive_field() == 2 * reach + 1
    torch.manual_seed(3)
    src = torch.randint(4, 40, (2, 50))
    lengths = torch.tensor([50, 50])
    with torch.no_grad():
        before = model.encode(src, lengths)["columns"]
        for j in (0, 20, 45):
            changed = src.clone()
            changed[:, j] = 4 + (changed[:, j] - 4 + 17) % 36
            after = model.encode(changed, lengths)["columns"]
            moved = (after - before).abs().amax(dim=(0, 2)) > 1e-5
            assert moved.nonzero().flatten().tolist() == list(range(max(j - reach, 0), min(j + reach + 1, 50)))


def test_the_papers_dilations_and_fields():
    assert dilations(30, 16) == [1, 2, 4, 8, 16] * 6
    assert receptive_field(3, dilations(30, 16)) == 1 + 2 * 31 * 6
    assert dilations(4, 1) == [1, 1, 1, 1]


# --- dynamic unfolding -----------------------------------------------------------------


def test_unfolded_lengths_are_floored_with_slack():
    assert unfolded_lengths(torch.tensor([1, 3, 5, 7, 10]), 1.2, 0.0).tolist() == [1, 3, 6, 8, 12]
    assert unfolded_lengths(torch.tensor([3]), 1.5, 0.5).tolist() == [5]
    # 0.29 * 100 is 28.999999999999996 in floating point: the slack keeps it 29.
    assert unfolded_lengths(torch.tensor([100]), 0.29, 0.0).tolist() == [29]
    assert unfolded_lengths(torch.tensor([3]), 0.0, 2.0).tolist() == [2]


def _spy(module, name, seen):
    """Record the first argument of module.<name> (an instance attribute shadows the method)."""
    original = getattr(module, name)

    def spy(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return original(x, *args, **kwargs)

    setattr(module, name, spy)


def test_source_network_reads_zeros_beyond_the_source_and_runs_over_the_unfolded_length():
    model = _model()
    src, lengths, _ = _long_batch()  # |s| = 7, 9, 9; |t^| = 8, 10, 10
    seen = []
    _spy(model.source_blocks[0], "forward", seen)
    with torch.no_grad():
        encoder_out = model.encode(src, lengths)
    (x,) = seen
    assert x.shape == (3, 10, 2 * D)  # max(|s|, |t^|) positions
    for b, length in enumerate(lengths.tolist()):
        assert torch.all(x[b, length:] == 0) and torch.all(x[b, :length].abs().sum(-1) > 0)
    assert encoder_out["unfolded_lengths"].tolist() == [8, 10, 10]
    assert encoder_out["columns"].shape == (3, 10, D)


def test_target_network_reads_zero_source_columns_beyond_the_unfolded_length():
    """In the teacher-forced pass and step by step, past |t^| and past the columns computed (U = 10)."""
    model = _model()
    src, lengths, prev = _long_batch()
    unfolded = [8, 10, 10]
    full, steps = [], []
    _spy(model.target_blocks[0], "forward", full)
    _spy(model.target_blocks[0], "step", steps)
    with torch.no_grad():
        model(src, lengths, prev)
        encoder_out, state = model.encode(src, lengths), None
        for t in range(1, prev.size(1) + 1):  # 24 steps, 14 past the 10 columns
            _, _, state = model.decode_step(prev[:, :t], encoder_out, state)
    stepped = torch.stack(steps, dim=1)  # (B, T, 2d)
    for x in (full[0], stepped):
        assert x.shape == (3, 24, 2 * D)
        for b, n in enumerate(unfolded):
            assert torch.all(x[b, n:, :D] == 0), "source columns past |t^| must be zero"
            assert torch.all(x[b, :n, :D].abs().sum(-1) > 0)
            assert torch.all(x[b, :, D:].abs().sum(-1) > 0), "the target embedding is always read"


def test_changing_the_source_changes_no_column_past_the_unfolded_length():
    model = _model()
    src, lengths, prev = _long_batch()
    other = src.clone()
    other[:, :5] = 4 + (other[:, :5] - 4 + 11) % 36
    with torch.no_grad():
        a, b = model.encode(src, lengths)["columns"], model.encode(other, lengths)["columns"]
    assert torch.all(a[0, 8:] == 0) and torch.all(b[0, 8:] == 0)
    assert (a[0, :8] - b[0, :8]).abs().max() > 1e-4


def test_search_decodes_past_the_columns_and_scores_like_the_full_pass():
    """Beam search forced to 25+ tokens (|t^| <= 10): each hypothesis scores as the teacher-forced pass."""
    model = _model()
    src, lengths, _ = _long_batch()
    config = SearchConfig(beam=3, nbest=3, min_len=25, max_len_b=30, lenpen=0.0)
    hypotheses = SequenceGenerator(model, config, need_attn=True).generate(src, lengths)
    for b, hyps in enumerate(hypotheses):
        for hyp in hyps:
            assert 26 <= len(hyp.tokens) <= 31 and hyp.attention is None
            prev = torch.cat([torch.tensor([2]), hyp.tokens[:-1]])[None]
            real = int(lengths[b])
            with torch.no_grad():
                features, _ = model(src[b : b + 1, :real], lengths[b : b + 1], prev)
                log_probs = torch.log_softmax(model.output_layer(features), dim=-1)[0]
            expected = log_probs.gather(1, hyp.tokens[:, None])[:, 0]
            torch.testing.assert_close(hyp.positional_scores, expected, atol=1e-4, rtol=1e-4)


# --- normalization over channels -----------------------------------------------------------


def test_layer_norm_is_over_channels_at_each_position():
    """Every LayerNorm sees (B, T, C) and normalizes the C channels of one position; a future
    position blown up a thousandfold changes no past output."""
    model = _model()
    src, lengths, prev = _long_batch()
    shapes = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: shapes.append((m.normalized_shape, args[0].shape)))
        for module in model.modules()
        if isinstance(module, torch.nn.LayerNorm)
    ]
    with torch.no_grad():
        before, _ = model(src, lengths, prev)
    for hook in hooks:
        hook.remove()
    assert len(shapes) == 3 * (3 + 4) + 2
    for normalized, shape in shapes:
        assert len(normalized) == 1 and len(shape) == 3 and shape[-1] == normalized[0]
        assert shape[1] in (10, 24)  # time stays a batch-like dimension
    blow_up = model.target_embed.register_forward_hook(
        lambda m, args, out: torch.cat([out[:, :15], 1e3 * out[:, 15:]], 1)
    )
    with torch.no_grad():
        after, _ = model(src, lengths, prev)
    blow_up.remove()
    torch.testing.assert_close(after[:, :15], before[:, :15], atol=0, rtol=0)
    assert (after[:, 15] - before[:, 15]).abs().max() > 1e-3


# --- configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_dim": 0}, "--model-dim must be at least 1"),
        ({"target_blocks": 0}, "--target-blocks must be at least 1"),
        ({"max_dilation": 12}, "--max-dilation must be a power of 2"),
        ({"source_kernel_size": 4}, "--source-kernel-size must be odd"),
        ({"target_kernel_size": 1}, "--target-kernel-size must be at least 2"),
        ({"unfold_a": 0.0, "unfold_b": 0.0}, "--unfold-a and --unfold-b"),
        ({"unfold_a": -1.0}, "--unfold-a and --unfold-b"),
        ({"dropout": 1.0}, "--dropout must be in [0, 1)"),
    ],
)
def test_build_refuses_bad_configs_in_one_line(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        _model(**overrides)
    assert "\n" not in str(error.value)


def test_presets_resolve_with_the_papers_sizes():
    entry, base = ARCHITECTURES.resolve("bytenet")
    assert entry.name == "bytenet"
    assert (base.source_blocks, base.target_blocks, base.model_dim, base.max_dilation) == (30, 30, 800, 16)
    assert (base.source_kernel_size, base.target_kernel_size, base.unfold_a, base.unfold_b) == (3, 3, 1.2, 0.0)
    entry, small = ARCHITECTURES.resolve("bytenet_small")
    assert entry.name == "bytenet"
    assert (small.source_blocks, small.target_blocks, small.model_dim, small.max_dilation) == (10, 10, 128, 16)
    assert small.share_input_output_embed


def test_config_round_trips_through_the_checkpoint_form():
    _, small = ARCHITECTURES.resolve("bytenet_small")
    stored = model_config_to_dict("bytenet_small", small)
    assert stored["family"] == "bytenet"
    assert config_from_dict(ByteNetConfig, stored["params"]) == small
    model = build_model(stored, 100, 120, 1, 2)
    assert model.config == small and model.max_positions() == (1024, 1024)
    # 2d = 256 between blocks: embeddings 100 x 256 (source) and 120 x 128 (target, tied to the output)
    assert model.source_embed.weight.shape == (100, 256) and model.output_weight.shape == (120, 128)
    assert len(model.source_blocks) == len(model.target_blocks) == 10
    assert model.receptive_field() == model.source_receptive_field() == 125


def test_bf16_training_forward_runs_and_is_close_to_fp32():
    model = _model(dropout=0.1)
    model.train()
    src, lengths, prev = _long_batch()
    torch.manual_seed(5)
    features32, _ = model(src, lengths, prev)
    torch.manual_seed(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features16, _ = model(src, lengths, prev)
    assert (features16.float() - features32).abs().mean() < 0.1
