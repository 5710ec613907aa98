"""--init-from: name-and-shape matching, the encoder-to-decoder mapping, and its reports and errors."""

from __future__ import annotations

import pytest
import torch

from toolkit.errors import UserError
from toolkit.models.transformer import TransformerConfig, TransformerModel
from toolkit.train.checkpoint import save_checkpoint
from toolkit.train.config import TrainConfig
from toolkit.train.init_from import group_names, initialize_from, parse_mapping

VOCAB = 12


def tiny(seed: int, vocab: int = VOCAB, dim: int = 8) -> TransformerModel:
    torch.manual_seed(seed)
    config = TransformerConfig(
        encoder_embed_dim=dim, encoder_ffn_embed_dim=2 * dim, encoder_layers=2, encoder_attention_heads=2,
        decoder_embed_dim=dim, decoder_ffn_embed_dim=2 * dim, decoder_layers=2, decoder_attention_heads=2, dropout=0.0,
    )  # fmt: skip
    return TransformerModel.build(config, vocab, vocab, 1, 2).eval()


def save(tmp_path, weights: dict, name: str = "pre.pt"):
    save_checkpoint({"config": {}, "model": weights}, tmp_path / name)
    return tmp_path / name


def _output(model: TransformerModel) -> torch.Tensor:
    src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 1]])
    prev = torch.tensor([[2, 9, 10], [2, 11, 1]])
    features, _ = model(src, torch.tensor([4, 3]), prev)
    return model.output_layer(features)


def test_same_architecture_loads_everything(tmp_path):
    pretrained, fresh = tiny(0), tiny(1)
    report = initialize_from(fresh, save(tmp_path, pretrained.state_dict()))
    assert set(report.loaded) == set(pretrained.state_dict()) and not report.left and not report.mismatched
    assert not report.mapped and not report.unused
    assert torch.equal(_output(fresh), _output(pretrained))
    assert report.summary().endswith(
        f"loaded {len(report.loaded)} tensors, 0 left at their initialization, 0 shape mismatches"
    )


def _encoder_only(model: TransformerModel) -> dict:
    return {k: v for k, v in model.state_dict().items() if k.startswith("encoder_")}


def test_mapped_encoder_goes_into_the_decoder_and_cross_attention_is_untouched(tmp_path):
    pretrained, fresh = tiny(0), tiny(1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    path = save(tmp_path, _encoder_only(pretrained))
    report = initialize_from(fresh, path, "decoder_layers.=encoder_layers.,decoder_embed.=encoder_embed.")
    source = pretrained.state_dict()
    for name, value in fresh.state_dict().items():
        expected = report.loaded.get(name)
        if name.startswith("encoder_"):
            assert expected == name
        elif name.startswith("decoder_embed.") or ".self_attn." in name or ".ffn" in name:
            assert expected == "encoder" + name[len("decoder") :]
        else:  # cross-attention, its norm and the norm after self-attention (named apart): no source
            assert expected is None and name in report.left
        assert torch.equal(value, source[expected] if expected else before[name]), name
    assert any(".cross_attn." in name for name in report.left) and not report.mismatched
    groups = "output_projection, decoder_layers.*.cross_attn.*, decoder_layers.*.self_block.*, decoder_layers.*.c"
    assert f"(21 through --init-from-map), 21 left at their initialization ({groups}" in report.summary()


def test_xlm_preset_also_takes_the_norm_after_self_attention(tmp_path):
    pretrained, fresh = tiny(0), tiny(1)
    report = initialize_from(fresh, save(tmp_path, _encoder_only(pretrained)), "xlm")
    assert report.loaded["decoder_layers.1.self_block.norm.weight"] == "encoder_layers.1.attn_block.norm.weight"
    assert report.loaded["decoder_layers.0.ffn_block.norm.bias"] == "encoder_layers.0.ffn_block.norm.bias"
    left = {name.split(".", 2)[-1].split(".")[0] for name in report.left}
    assert left == {"cross_attn", "cross_block", "output_projection"} and not report.unused


def test_own_name_comes_before_the_mapping(tmp_path):
    pretrained, fresh = tiny(0), tiny(1)
    report = initialize_from(fresh, save(tmp_path, pretrained.state_dict()), "xlm")
    assert not report.mapped and torch.equal(fresh.decoder_embed.weight, pretrained.decoder_embed.weight)


def test_shape_mismatch_is_reported_not_loaded(tmp_path):
    pretrained, fresh = tiny(0, vocab=VOCAB + 4), tiny(1)
    before = fresh.encoder_embed.weight.clone()
    report = initialize_from(fresh, save(tmp_path, pretrained.state_dict()))
    mismatched = {m[0]: m[2:] for m in report.mismatched}
    assert mismatched["encoder_embed.weight"] == ((VOCAB, 8), (VOCAB + 4, 8))
    assert set(mismatched) == {"encoder_embed.weight", "decoder_embed.weight", "output_projection"}
    assert torch.equal(fresh.encoder_embed.weight, before)
    assert torch.equal(fresh.encoder_layers[0].ffn.fc1.weight, pretrained.encoder_layers[0].ffn.fc1.weight)
    assert "3 shape mismatches (output_projection, encoder_embed.weight, decoder_embed.weight)" in report.summary()


def test_nothing_matching_and_no_weights_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no tensor of the model is in the checkpoint .* shapes differ"):
        initialize_from(tiny(1), save(tmp_path, tiny(0, dim=4).state_dict()))
    with pytest.raises(UserError, match="no tensor of the model"):
        initialize_from(tiny(1), save(tmp_path, {"other.weight": torch.zeros(2)}))
    save_checkpoint({"config": {}}, tmp_path / "empty.pt")
    with pytest.raises(UserError, match="holds no model weights"):
        initialize_from(tiny(1), tmp_path / "empty.pt")


def test_mapping_syntax():
    assert parse_mapping("a.=b., c.*.d.=e.*.f.") == [("a.", "b."), ("c.*.d.", "e.*.f.")]
    assert parse_mapping("") == [] and parse_mapping("none") == [] and parse_mapping("XLM")[0][0] == "decoder_embed."
    for bad, message in (("a.b.", "not MODEL_PREFIX=CHECKPOINT_PREFIX"), ("a.*.=b.", "number of \\*")):
        with pytest.raises(UserError, match=message):
            parse_mapping(bad)
    with pytest.raises(ValueError, match="needs --init-from"):
        TrainConfig(init_from_map="xlm").validate()
    assert group_names(["x.0.y.z", "x.1.y.w", "top"]) == "x.*.y.*, top"
