"""`nmt export --format ctranslate2`: a Transformer checkpoint as a CTranslate2 model directory.

The weights go through CTranslate2's own model specification (`ctranslate2.specs.TransformerSpec`,
filled here and saved by a `ctranslate2.converters.Converter`), so CTranslate2 validates the layout
and quantizes (`--quantization`) itself. What maps to what (per layer i; the decoder's
self-attention, feed-forward and norms as the encoder's):

    ours (toolkit/models/transformer.py)       CTranslate2 spec
    encoder_embed / decoder_embed              encoder/embeddings_0, decoder/embeddings
    encoder_scale / decoder_scale              */scale_embeddings (sqrt(D), or 1 with --no-scale-embedding)
    encoder_positions / decoder_positions      */position_encodings/encodings (our table, written out)
    encoder_layers.i.self_attn.qkv_proj        encoder/layer_i/self_attention/linear_0 (fused q, k, v)
    encoder_layers.i.self_attn.out_proj        encoder/layer_i/self_attention/linear_1
    encoder_layers.i.attn_block.norm           encoder/layer_i/self_attention/layer_norm
    encoder_layers.i.ffn.fc1, fc2              encoder/layer_i/ffn/linear_0, linear_1
    encoder_layers.i.ffn_block.norm            encoder/layer_i/ffn/layer_norm
    decoder_layers.i.self_block.norm           decoder/layer_i/self_attention/layer_norm
    decoder_layers.i.cross_attn.q_proj         decoder/layer_i/attention/linear_0
    decoder_layers.i.cross_attn.kv_proj        decoder/layer_i/attention/linear_1 (fused k, v)
    decoder_layers.i.cross_attn.out_proj       decoder/layer_i/attention/linear_2
    decoder_layers.i.cross_block.norm          decoder/layer_i/attention/layer_norm
    encoder_norm / decoder_norm (pre-norm)     encoder/layer_norm, decoder/layer_norm
    output_weight (tied or its own), no bias   decoder/projection

Our fused projections are already in CTranslate2's layout (rows q | k | v and k | v, heads
contiguous within each), so nothing is split or permuted. CTranslate2's `pre_norm` is our
`--normalize-before`: x + f(LN(x)) against LN(x + f(x)), with a final norm only when pre-norm.

Positions: ours number the first token 0 (the source's first word; the decoder's start token)
and batches are right-padded, so row p of our table is what a token at position p gets.
fairseq numbers from padding_idx + 1 (its converter drops two rows) and CTranslate2's own
sinusoids are not ours; so the exact table the checkpoint's model adds (sinusoidal or learned) is
written out, and CTranslate2 indexes it from 0 for the first token, as we do.

Vocabularies are our dictionaries symbol for symbol (<s> <pad> </s> <unk> at 0-3); the decoder
starts from </s> (or the target language's recorded start symbol), as our search does, and
CTranslate2 appends </s> to each source, as binarization did.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.config import option
from toolkit.errors import UserError
from toolkit.fileio import atomic_directory

EXPORT_FORMATS = ("ctranslate2",)
# CTranslate2's weight types (ctranslate2.specs.model_spec.ACCEPTED_MODEL_TYPES), listed here so
# that `nmt export --help` works without the optional package.
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")
INSTALL_HINT = "pip install 'nmt[ctranslate2]'"
METADATA_FILE = "nmt_export.json"
FAMILY_NAMES = {"rnn": "recurrent"}

# TransformerConfig fields the spec expresses (or that do not matter at inference: dropout).
# A field added later that is not listed here is refused when set away from its default.
HANDLED_OPTIONS = frozenset(
    {
        "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_layers", "encoder_attention_heads",
        "decoder_embed_dim", "decoder_ffn_embed_dim", "decoder_layers", "decoder_attention_heads",
        "dropout", "attention_dropout", "activation_dropout", "activation_fn", "normalize_before",
        "learned_pos", "share_all_embeddings", "share_decoder_input_output_embed", "no_scale_embedding",
        "max_source_positions", "max_target_positions",
    }
)  # fmt: skip


@dataclass
class ExportConfig:
    """Every `nmt export` option."""

    checkpoint: str = option(help="the checkpoint to convert (a Transformer)", positional=True, metavar="CKPT")
    output_dir: str = option(help="the model directory to write (atomically)", positional=True, metavar="OUTDIR")
    format: str = option("ctranslate2", "the inference engine to export for", choices=EXPORT_FORMATS)
    quantization: str | None = option(
        None,
        f"weight type CTranslate2 stores: {', '.join(QUANTIZATIONS)} (default: the checkpoint's, float32)",
        choices=QUANTIZATIONS,
        metavar="TYPE",
    )
    source_lang: str = option("", "source language of the direction to export (default: the checkpoint's)", short="-s")
    target_lang: str = option("", "target language of the direction to export (default: the checkpoint's)", short="-t")
    force: bool = option(False, "replace OUTDIR if it exists")


def require_ctranslate2() -> Any:
    """The ctranslate2 module, or one line saying how to install it."""
    try:
        import ctranslate2
        import ctranslate2.converters  # noqa: F401
        import ctranslate2.specs  # noqa: F401
    except ImportError:
        raise UserError(f"--format ctranslate2 needs the ctranslate2 package: {INSTALL_HINT}") from None
    return ctranslate2


def export_ctranslate2(config: ExportConfig) -> dict:
    """Convert config.checkpoint into config.output_dir; return what was written (for the CLI's line)."""
    require_ctranslate2()
    from toolkit.train.checkpoint import load_model_for_inference

    output = Path(config.output_dir)
    if output.exists() and not config.force:
        raise UserError(f"{output} already exists (--force replaces it)")
    loaded = load_model_for_inference(config.checkpoint, config.source_lang, config.target_lang)
    check_exportable(loaded)
    start = decoder_start_symbol(loaded)
    spec = transformer_spec(loaded, start)
    with atomic_directory(output, overwrite=config.force) as staging:
        spec_converter(spec).convert(str(staging), quantization=config.quantization, force=True)
        metadata = export_metadata(loaded, config, start)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", "utf-8")
        from toolkit.export.ctranslate2_readme import readme_text

        (staging / "README.md").write_text(readme_text(output, metadata), encoding="utf-8")
    size = sum(f.stat().st_size for f in output.iterdir() if f.is_file())
    return {**metadata, "output_dir": str(output), "size_bytes": size}


# --- what can be exported ----------------------------------------------------------------------


def check_exportable(loaded) -> None:
    """One UserError line for a checkpoint CTranslate2 cannot represent, naming what is unsupported."""
    from torch import nn

    from toolkit.models.transformer import TransformerConfig, TransformerModel

    model_config = loaded.config.get("model") or {}
    arch, family = model_config.get("arch", "?"), model_config.get("family", "?")
    quantized = getattr(loaded, "quantization", None)
    if quantized:
        raise UserError(
            f"{loaded.path}: an {quantized} checkpoint (nmt quantize); export the float checkpoint it was made "
            f"from, and let CTranslate2 quantize it (--quantization {quantized})"
        )
    if not isinstance(loaded.model, TransformerModel):
        kind = f"the {FAMILY_NAMES[family]} family {family!r}" if family in FAMILY_NAMES else f"family {family!r}"
        raise UserError(f"{loaded.path}: CTranslate2 export covers the Transformer only, not --arch {arch} ({kind})")
    c = loaded.model.config
    defaults = TransformerConfig()
    unknown = [
        f.name
        for f in dataclasses.fields(c)
        if f.name not in HANDLED_OPTIONS and getattr(c, f.name) != getattr(defaults, f.name)
    ]
    if unknown:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in unknown)
        raise UserError(f"{loaded.path}: the CTranslate2 export cannot express {flags}")
    if c.activation_fn not in _activations():
        raise UserError(f"{loaded.path}: CTranslate2 has no --activation-fn {c.activation_fn}")
    plain = (nn.Linear, nn.LayerNorm, nn.Embedding)
    odd = sorted({type(m).__name__ for m in loaded.model.modules() if _is_leaf(m) and not isinstance(m, plain)})
    if odd:
        raise UserError(
            f"{loaded.path}: holds {', '.join(odd)} layers (a quantized checkpoint?); export the float "
            "checkpoint and let CTranslate2 quantize it (--quantization int8)"
        )
    eps = {m.eps for m in loaded.model.modules() if isinstance(m, nn.LayerNorm)}
    if len(eps) > 1:
        raise UserError(f"{loaded.path}: CTranslate2 takes one LayerNorm epsilon; this model has {sorted(eps)}")


def _is_leaf(module) -> bool:
    """A module holding weights itself (our containers hold only submodules and position tables)."""
    from toolkit.modules.positions import PositionEmbedding

    return (
        not isinstance(module, PositionEmbedding)
        and not list(module.children())
        and bool(list(module.parameters(recurse=False)) or list(module.buffers(recurse=False)))
    )


def decoder_start_symbol(loaded) -> str:
    """The decoder's first input: the target language's recorded start symbol, else </s> (our EOS)."""
    start = (loaded.languages.get("decoder_start") or {}).get(loaded.tgt_lang)
    if not start:
        return loaded.tgt_dict[loaded.tgt_dict.eos_index]
    if start not in loaded.tgt_dict:
        raise UserError(f"{loaded.path}: decoder start symbol {start} is not in the target dictionary")
    return start


def export_metadata(loaded, config: ExportConfig, start: str) -> dict:
    """What OUTDIR's nmt_export.json records: provenance, limits, and the text processing of both sides."""
    c = loaded.model.config
    processors = loaded.text_processors or {}
    return {
        "nmt_version": __version__,
        "format": config.format,
        "checkpoint": str(Path(config.checkpoint).resolve()),
        "arch": (loaded.config.get("model") or {}).get("arch"),
        "source_lang": loaded.src_lang,
        "target_lang": loaded.tgt_lang,
        "quantization": config.quantization or "float32",
        "decoder_start_token": start,
        "max_source_positions": c.max_source_positions,
        "max_target_positions": c.max_target_positions,
        # TextProcessor.from_state(...) of each language rebuilds its tokenizer and BPE exactly.
        "text_processors": {
            lang: processors[side].to_state()
            for side, lang in (("src", loaded.src_lang), ("tgt", loaded.tgt_lang))
            if side in processors
        },
    }


# --- the specification -------------------------------------------------------------------------


def _activations() -> dict:
    from ctranslate2.specs import common_spec

    # F.gelu is the exact (erf) GELU: CTranslate2's GELU, not its tanh approximation.
    return {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}


def spec_converter(spec):
    """A ctranslate2 Converter whose model is `spec`, already filled (it validates, quantizes and saves)."""
    from ctranslate2.converters.converter import Converter

    class SpecConverter(Converter):
        def _load(self):
            return spec

    return SpecConverter()


def transformer_spec(loaded, decoder_start: str):
    """A filled ctranslate2 TransformerSpec for the loaded TransformerModel, with vocabularies and config."""
    from ctranslate2.specs import transformer_spec as ts
    from torch import nn

    model, c = loaded.model, loaded.model.config
    activation = _activations()[c.activation_fn]
    encoder = ts.TransformerEncoderSpec(
        c.encoder_layers, c.encoder_attention_heads, pre_norm=c.normalize_before, activation=activation
    )
    decoder = ts.TransformerDecoderSpec(
        c.decoder_layers, c.decoder_attention_heads, pre_norm=c.normalize_before, activation=activation
    )
    _set_inputs(encoder, model.encoder_embed, model.encoder_scale, model.encoder_positions)
    for layer_spec, layer in zip(encoder.layer, model.encoder_layers, strict=True):
        _set_self_attention(layer_spec.self_attention, layer.self_attn, layer.attn_block.norm)
        _set_ffn(layer_spec.ffn, layer.ffn, layer.ffn_block.norm)
    _set_inputs(decoder, model.decoder_embed, model.decoder_scale, model.decoder_positions)
    for layer_spec, layer in zip(decoder.layer, model.decoder_layers, strict=True):
        _set_self_attention(layer_spec.self_attention, layer.self_attn, layer.self_block.norm)
        _set_cross_attention(layer_spec.attention, layer.cross_attn, layer.cross_block.norm)
        _set_ffn(layer_spec.ffn, layer.ffn, layer.ffn_block.norm)
    decoder.projection.weight = _array(model.output_weight)  # our output layer has no bias
    if c.normalize_before:
        _set_norm(encoder.layer_norm, model.encoder_norm)
        _set_norm(decoder.layer_norm, model.decoder_norm)

    spec = ts.TransformerSpec(encoder, decoder)
    spec.register_source_vocabulary(list(loaded.src_dict.symbols))
    spec.register_target_vocabulary(list(loaded.tgt_dict.symbols))
    d = loaded.tgt_dict
    spec.config.bos_token, spec.config.eos_token, spec.config.unk_token = d[d.bos_index], d[d.eos_index], d[d.unk_index]
    spec.config.decoder_start_token = decoder_start
    spec.config.add_source_eos = True  # binarized sources end with </s>
    spec.config.layer_norm_epsilon = next(m.eps for m in model.modules() if isinstance(m, nn.LayerNorm))
    return spec


def _array(tensor):
    """A float32 numpy copy (CTranslate2 quantizes its arrays in place; the model's stay untouched)."""
    import torch

    return tensor.detach().to(torch.float32).cpu().numpy().copy()


def _set_inputs(spec, embed, scale: float, positions) -> None:
    embeddings = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    embeddings.weight = _array(embed.weight)
    # The value itself (CTranslate2 also reads True as sqrt(D)); 1.0 means no scaling.
    spec.scale_embeddings = float(scale) if not math.isclose(scale, 1.0) else False
    spec.position_encodings.encodings = _array(positions.weight)  # (P, D)


def _set_linear(spec, linear) -> None:
    spec.weight = _array(linear.weight)
    if linear.bias is not None:
        spec.bias = _array(linear.bias)


def _set_norm(spec, norm) -> None:
    spec.gamma = _array(norm.weight)
    spec.beta = _array(norm.bias)


def _set_self_attention(spec, attn, norm) -> None:
    _set_linear(spec.linear[0], attn.qkv_proj)
    _set_linear(spec.linear[1], attn.out_proj)
    _set_norm(spec.layer_norm, norm)


def _set_cross_attention(spec, attn, norm) -> None:
    _set_linear(spec.linear[0], attn.q_proj)
    _set_linear(spec.linear[1], attn.kv_proj)
    _set_linear(spec.linear[2], attn.out_proj)
    _set_norm(spec.layer_norm, norm)


def _set_ffn(spec, ffn, norm) -> None:
    _set_linear(spec.linear_0, ffn.fc1)
    _set_linear(spec.linear_1, ffn.fc2)
    _set_norm(spec.layer_norm, norm)
