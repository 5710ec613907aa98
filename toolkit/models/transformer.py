"""The Transformer (Vaswani et al. 2017), with cached incremental decoding.

Language embeddings (XLM) are optional: with `--language-embeddings N` a learned vector per
language is added to the encoder inputs (from `src_lang`) and the decoder inputs (from
`tgt_lang`); without, those arguments are ignored (a target-language tag as the decoder's start
token works either way).
Shapes: B batch, S source length, T target length, D model dim, V vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from toolkit.config import option
from toolkit.models.base import DecoderState, EncoderDecoderModel, EncoderOut
from toolkit.modules.dropout import fast_dropout
from toolkit.modules.multihead_attention import MultiheadAttention
from toolkit.modules.positions import PositionEmbedding
from toolkit.registry import ARCHITECTURES


@dataclass
class TransformerConfig:
    encoder_embed_dim: int = option(512, "encoder model dimension")
    encoder_ffn_embed_dim: int = option(2048, "encoder feed-forward inner dimension")
    encoder_layers: int = option(6, "encoder layers")
    encoder_attention_heads: int = option(8, "encoder attention heads")
    decoder_embed_dim: int = option(512, "decoder model dimension")
    decoder_ffn_embed_dim: int = option(2048, "decoder feed-forward inner dimension")
    decoder_layers: int = option(6, "decoder layers")
    decoder_attention_heads: int = option(8, "decoder attention heads")
    dropout: float = option(0.1, "dropout on embeddings and sublayer outputs")
    attention_dropout: float = option(0.0, "dropout on attention probabilities")
    activation_dropout: float = option(0.0, "dropout after the feed-forward activation")
    activation_fn: str = option("relu", "feed-forward activation: relu or gelu")
    normalize_before: bool = option(
        False,
        "pre-norm (LayerNorm before each sublayer) instead of post-norm; fairseq's "
        "--encoder-/--decoder-normalize-before set it for both sides",
        aliases=("--encoder-normalize-before", "--decoder-normalize-before"),
    )
    learned_pos: bool = option(
        False,
        "learned position embeddings instead of sinusoidal ones (fairseq's --encoder-/--decoder-learned-pos: both)",
        aliases=("--encoder-learned-pos", "--decoder-learned-pos"),
    )
    share_all_embeddings: bool = option(False, "tie source, target and output embeddings (joined dictionary)")
    share_decoder_input_output_embed: bool = option(False, "tie the output projection to the target embeddings")
    no_scale_embedding: bool = option(False, "do not scale embeddings by sqrt(dim)")
    language_embeddings: int = option(
        0,
        "learned language embeddings for N languages, added to the encoder and decoder inputs as in XLM "
        "(0: none); the task gives each sentence's language id (unsupervised_translation, masked_lm)",
    )
    max_source_positions: int = option(1024, "longest source accepted")
    max_target_positions: int = option(1024, "longest target generated")


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, activation: str, activation_dropout: float) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.activation = _ACTIVATIONS[activation]
        self.activation_dropout = activation_dropout
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = fast_dropout(self.activation(self.fc1(x)), self.activation_dropout, self.training)
        return self.fc2(x)


class _Residual(nn.Module):
    """Sublayer wrapper: x + dropout(f(norm(x))) pre-norm, or norm(x + dropout(f(x))) post-norm."""

    def __init__(self, dim: int, dropout: float, normalize_before: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout
        self.normalize_before = normalize_before

    def forward(self, x: torch.Tensor, sublayer) -> torch.Tensor:
        y = sublayer(self.norm(x) if self.normalize_before else x)
        y = x + fast_dropout(y, self.dropout, self.training)
        return y if self.normalize_before else self.norm(y)


class EncoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        d = c.encoder_embed_dim
        self.self_attn = MultiheadAttention(d, c.encoder_attention_heads, c.attention_dropout)
        self.ffn = FeedForward(d, c.encoder_ffn_embed_dim, c.activation_fn, c.activation_dropout)
        self.attn_block = _Residual(d, c.dropout, c.normalize_before)
        self.ffn_block = _Residual(d, c.dropout, c.normalize_before)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, attn_mask=mask))
        return self.ffn_block(x, self.ffn)


class DecoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        d = c.decoder_embed_dim
        self.self_attn = MultiheadAttention(d, c.decoder_attention_heads, c.attention_dropout)
        self.cross_attn = MultiheadAttention(d, c.decoder_attention_heads, c.attention_dropout, self_attention=False)
        self.ffn = FeedForward(d, c.decoder_ffn_embed_dim, c.activation_fn, c.activation_dropout)
        self.self_block = _Residual(d, c.dropout, c.normalize_before)
        self.cross_block = _Residual(d, c.dropout, c.normalize_before)
        self.ffn_block = _Residual(d, c.dropout, c.normalize_before)

    def forward(
        self,
        x: torch.Tensor,
        memory_kv: tuple[torch.Tensor, torch.Tensor],
        memory_mask: torch.Tensor | None,
        cache: dict | None = None,
        need_attn: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Training sees the whole target: causal masking. A cached step sees one new
        # token and all cached keys, so no mask is needed.
        x = self.self_block(x, lambda h: self.self_attn(h, is_causal=cache is None, cache=cache))
        attn = None

        def cross(h: torch.Tensor) -> torch.Tensor:
            nonlocal attn
            if need_attn:
                attn = self.cross_attn.attention_weights(h, memory_kv, memory_mask)
            return self.cross_attn(h, memory_kv=memory_kv, attn_mask=memory_mask)

        x = self.cross_block(x, cross)
        return self.ffn_block(x, self.ffn), attn


def _embedding(vocab: int, dim: int, pad_index: int | None) -> nn.Embedding:
    embed = nn.Embedding(vocab, dim, padding_idx=pad_index)
    nn.init.normal_(embed.weight, mean=0.0, std=dim**-0.5)
    if pad_index is not None:
        nn.init.zeros_(embed.weight[pad_index])
    return embed


def _add_language(x: torch.Tensor, table: nn.Embedding | None, lang: torch.Tensor | None, side: str) -> torch.Tensor:
    """x (B, T, D) plus the language vector of each row; unchanged for a model without language embeddings."""
    if table is None:
        return x
    if lang is None:
        raise ValueError(f"this model has language embeddings: the {side} language ids are missing")
    return x + table(lang.to(x.device))[:, None, :]


class SourceEncoder:
    """The Transformer encoder's pass, for a module with encoder_embed, encoder_scale, encoder_positions,
    encoder_lang_embed, encoder_layers, encoder_norm, pad_index and config (the translation model and
    the masked LM, toolkit/models/masked_lm.py, which shares its names)."""

    def _encode(
        self, src_tokens: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """src_tokens (B, S) -> encoder states (B, S, D) and an attention mask (B, 1, 1, S) or None."""
        padding = src_tokens.eq(self.pad_index)
        mask = ~padding[:, None, None, :] if bool(padding.any()) else None
        x = self.encoder_embed(src_tokens) * self.encoder_scale + self.encoder_positions(src_tokens.size(1))
        x = _add_language(x, self.encoder_lang_embed, src_lang, "source")
        x = fast_dropout(x, self.config.dropout, self.training)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return x, mask


@ARCHITECTURES.register("transformer", config=TransformerConfig)
class TransformerModel(SourceEncoder, EncoderDecoderModel):
    """Transformer encoder-decoder with multi-head scaled dot-product attention (Vaswani et al. 2017)."""

    def __init__(self, c: TransformerConfig, src_vocab: int, tgt_vocab: int, pad_index: int, eos_index: int) -> None:
        super().__init__()
        self.config = c
        self.pad_index, self.eos_index = pad_index, eos_index
        self.encoder_embed = _embedding(src_vocab, c.encoder_embed_dim, pad_index)
        if c.share_all_embeddings:
            self.decoder_embed = self.encoder_embed
        else:
            self.decoder_embed = _embedding(tgt_vocab, c.decoder_embed_dim, pad_index)
        if c.share_decoder_input_output_embed or c.share_all_embeddings:
            self.output_projection = None
        else:
            self.output_projection = nn.Parameter(torch.empty(tgt_vocab, c.decoder_embed_dim))
            nn.init.normal_(self.output_projection, mean=0.0, std=c.decoder_embed_dim**-0.5)
        self.encoder_positions = PositionEmbedding(c.max_source_positions, c.encoder_embed_dim, c.learned_pos)
        self.decoder_positions = PositionEmbedding(c.max_target_positions, c.decoder_embed_dim, c.learned_pos)
        self.encoder_layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.decoder_layers))
        self.encoder_norm = nn.LayerNorm(c.encoder_embed_dim) if c.normalize_before else None
        self.decoder_norm = nn.LayerNorm(c.decoder_embed_dim) if c.normalize_before else None
        # One table per side, so that --init-from xlm can fill the decoder's from a pretrained encoder.
        self.encoder_lang_embed = self.decoder_lang_embed = None
        if c.language_embeddings:
            self.encoder_lang_embed = _embedding(c.language_embeddings, c.encoder_embed_dim, None)
            self.decoder_lang_embed = _embedding(c.language_embeddings, c.decoder_embed_dim, None)
        self.encoder_scale = 1.0 if c.no_scale_embedding else math.sqrt(c.encoder_embed_dim)
        self.decoder_scale = 1.0 if c.no_scale_embedding else math.sqrt(c.decoder_embed_dim)

    @classmethod
    def build(
        cls, config: TransformerConfig, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
    ) -> TransformerModel:
        for name in ("dropout", "attention_dropout", "activation_dropout"):
            if not 0.0 <= getattr(config, name) < 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(config, name)}")
        if config.language_embeddings < 0:
            raise ValueError(f"--language-embeddings must be >= 0, got {config.language_embeddings}")
        if config.share_all_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise ValueError(
                    "--share-all-embeddings needs a joined dictionary (source and target vocabularies differ)"
                )
            if config.encoder_embed_dim != config.decoder_embed_dim:
                raise ValueError("--share-all-embeddings needs encoder and decoder embedding dims to be equal")
        return cls(config, src_vocab_size, tgt_vocab_size, pad_index, eos_index)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.decoder_embed.weight if self.output_projection is None else self.output_projection

    def max_positions(self) -> tuple[int, int]:
        return (self.config.max_source_positions, self.config.max_target_positions)

    # --- encoder: SourceEncoder._encode ----------------------------------------------
    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> EncoderOut:
        memory, mask = self._encode(src_tokens, src_lang)
        if mask is None:
            mask = torch.ones(src_tokens.size(0), 1, 1, src_tokens.size(1), dtype=torch.bool, device=src_tokens.device)
        # Encoder-decoder keys/values depend only on the source: project them once per sentence.
        cross_kv = [layer.cross_attn.project_kv(memory) for layer in self.decoder_layers]
        return {"encoder_out": memory, "mask": mask, "cross_kv": cross_kv}

    # --- decoder ---------------------------------------------------------------------
    def _embed_target(self, tokens: torch.Tensor, offset: int, tgt_lang: torch.Tensor | None = None) -> torch.Tensor:
        x = self.decoder_embed(tokens) * self.decoder_scale + self.decoder_positions(tokens.size(1), offset)
        x = _add_language(x, self.decoder_lang_embed, tgt_lang, "target")
        return fast_dropout(x, self.config.dropout, self.training)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        memory, mask = self._encode(src_tokens, src_lang)
        x = self._embed_target(prev_output_tokens, 0, tgt_lang)
        for layer in self.decoder_layers:
            x, _ = layer(x, layer.cross_attn.project_kv(memory), mask)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return x, None

    def decode_features(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        if state is None:
            state = {"layers": [{} for _ in self.decoder_layers]}
        step = prev_tokens.size(1) - 1
        x = self._embed_target(prev_tokens[:, -1:], step, tgt_lang)
        attn = None
        last = len(self.decoder_layers) - 1
        for i, layer in enumerate(self.decoder_layers):
            x, layer_attn = layer(
                x,
                encoder_out["cross_kv"][i],
                encoder_out["mask"],
                cache=state["layers"][i],
                need_attn=need_attn and i == last,
            )
            attn = layer_attn if layer_attn is not None else attn
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return x[:, 0], attn[:, 0] if attn is not None else None, state


# --- presets: pure functions returning a config ----------------------------------------


@ARCHITECTURES.register_preset("transformer_big", base="transformer")
def transformer_big() -> TransformerConfig:
    return TransformerConfig(
        encoder_embed_dim=1024,
        encoder_ffn_embed_dim=4096,
        encoder_attention_heads=16,
        decoder_embed_dim=1024,
        decoder_ffn_embed_dim=4096,
        decoder_attention_heads=16,
        dropout=0.3,
    )


@ARCHITECTURES.register_preset("transformer_vaswani_wmt_en_fr_big", base="transformer")
def transformer_vaswani_wmt_en_fr_big() -> TransformerConfig:
    """fairseq's name: transformer_big with dropout 0.1."""
    return dataclasses.replace(transformer_big(), dropout=0.1)


@ARCHITECTURES.register_preset("transformer_wmt_en_de_big_t2t", base="transformer")
def transformer_wmt_en_de_big_t2t() -> TransformerConfig:
    """fairseq's name: transformer_big, pre-norm, attention and activation dropout 0.1."""
    return dataclasses.replace(transformer_big(), normalize_before=True, attention_dropout=0.1, activation_dropout=0.1)


# fairseq's names for configurations we already have, identical in every model setting.
for _alias, _ours in (
    ("transformer_wmt_en_de", "transformer"),
    ("transformer_vaswani_wmt_en_de_big", "transformer_big"),
    ("transformer_wmt_en_de_big", "transformer_big"),
):
    ARCHITECTURES.register_alias(_alias, _ours)


@ARCHITECTURES.register_preset("transformer_iwslt_de_en", base="transformer")
def transformer_iwslt_de_en() -> TransformerConfig:
    return TransformerConfig(
        encoder_ffn_embed_dim=1024,
        encoder_attention_heads=4,
        decoder_ffn_embed_dim=1024,
        decoder_attention_heads=4,
        dropout=0.3,
    )


@ARCHITECTURES.register_preset("transformer_small", base="transformer")
def transformer_small() -> TransformerConfig:
    """3+3 layers, dim 256, 4 heads, FFN 1024, shared embeddings: a CPU workhorse."""
    return TransformerConfig(
        encoder_embed_dim=256,
        encoder_ffn_embed_dim=1024,
        encoder_layers=3,
        encoder_attention_heads=4,
        decoder_embed_dim=256,
        decoder_ffn_embed_dim=1024,
        decoder_layers=3,
        decoder_attention_heads=4,
        dropout=0.3,
        share_all_embeddings=True,
    )


@ARCHITECTURES.register_preset("transformer_tiny", base="transformer")
def transformer_tiny() -> TransformerConfig:
    """4+4 layers, dim 128, 4 heads, FFN 256, dropout 0.3, shared embeddings (Multi30k, 41.02 BLEU en-de)."""
    return TransformerConfig(
        encoder_embed_dim=128,
        encoder_ffn_embed_dim=256,
        encoder_layers=4,
        encoder_attention_heads=4,
        decoder_embed_dim=128,
        decoder_ffn_embed_dim=256,
        decoder_layers=4,
        decoder_attention_heads=4,
        dropout=0.3,
        share_all_embeddings=True,
    )
