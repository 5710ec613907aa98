"""ConvS2S, the fully convolutional encoder-decoder of Gehring et al. 2017 (fairseq's `fconv`).

Encoder: token + learned position embeddings e -> a linear map to the first layer's width ->
blocks of [zero the source padding, dropout, 1-D convolution to 2C channels seeing both sides,
GLU, + residual (linearly projected where the width changes), times sqrt(0.5)] -> a linear map
back to the embedding size: z. Attention reads keys z and values (z + e) * sqrt(0.5).

Decoder: the same blocks with causal convolutions (left padding only), and in every layer the
attention spec selects its own attention over the encoder (multi-step attention), between the GLU
and the residual: query d = (W_d h + g) * sqrt(0.5) from the GLU output h and the target
embedding g; context c = sum_j a_j v_j, times sqrt(m) for m real source tokens; out
(W_c c + h) * sqrt(0.5). Then a linear map to --decoder-out-embed-dim and dropout: the features.

Training as in the paper and fairseq: weight normalisation on every linear map and convolution
(not on embeddings), N(0, sqrt(k (1 - p) / n_in)) initialisation (k = 4 for the GLU convolutions,
1 for linear maps, p the dropout on the layer's input), N(0, 0.1) embeddings, and the encoder's
gradient scaled by 1 / (2 * attention layers) in the backward pass, since every attention layer
sends gradient into it.

Cached decoding: decoder layer i keeps its last k_i - 1 inputs, (B, k_i - 1, C_i), in
state["history"][i], and a step convolves that window with the new column: one output column per
layer and step. The state is a dict of batch-first tensors, so the base class reorders it.

Attention returned (alignments, plots): the mean over the attention layers, (B, T, S);
`forward(..., return_all_attention=True)` returns each layer's instead, (B, L_att, T, S).
There are no language embeddings: `src_lang`/`tgt_lang` are accepted and ignored.
Shapes: B batch, S source, T target, E embedding dim, C a layer's channels, V vocabulary.
The stacks work time-major, (T, B, C), so a convolution is k contiguous matrix products (conv_tbc);
what leaves the model (features, encoder output, state, attention) is batch-first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from toolkit.config import option
from toolkit.models.base import DecoderState, EncoderDecoderModel, EncoderOut
from toolkit.modules.dropout import fast_dropout
from toolkit.modules.grad_multiply import grad_multiply
from toolkit.modules.layer_spec import parse_attention, parse_conv_layers
from toolkit.modules.positions import PositionEmbedding
from toolkit.modules.weight_norm import WeightNormConv1d, WeightNormLinear
from toolkit.registry import ARCHITECTURES

SQRT_HALF = math.sqrt(0.5)
_LAYERS_HELP = 'as a list of (dim, kernel width), in fairseq\'s spelling: e.g. "[(256, 3)] * 4 + [(512, 3)] * 2"'


@dataclass
class FConvConfig:
    encoder_embed_dim: int = option(512, "encoder embedding dimension (token and position)")
    encoder_layers: str = option("[(512, 3)] * 20", f"encoder convolutions {_LAYERS_HELP}", metavar="SPEC")
    decoder_embed_dim: int = option(512, "decoder embedding dimension (token and position)")
    decoder_layers: str = option(
        "[(512, 3)] * 20", "decoder convolutions (causal), as --encoder-layers", metavar="SPEC"
    )
    decoder_out_embed_dim: int = option(256, "size of the features fed to the vocabulary projection")
    decoder_attention: str = option(
        "True", 'attention in each decoder layer: True, False or a list such as "[True, False, True]"', metavar="SPEC"
    )
    dropout: float = option(0.1, "dropout on embeddings, before every convolution and before the vocabulary projection")
    share_input_output_embed: bool = option(
        False,
        "tie the vocabulary projection to the target embeddings (needs --decoder-out-embed-dim = --decoder-embed-dim)",
        aliases=("--share-decoder-input-output-embed",),
    )
    max_source_positions: int = option(1024, "longest source accepted (learned positions)")
    max_target_positions: int = option(1024, "longest target generated (learned positions)")


def _embedding(vocab: int, dim: int, pad_index: int) -> nn.Embedding:
    embed = nn.Embedding(vocab, dim, padding_idx=pad_index)
    nn.init.normal_(embed.weight, 0.0, 0.1)
    nn.init.zeros_(embed.weight.data[pad_index])
    return embed


def _positions(max_positions: int, dim: int) -> PositionEmbedding:
    positions = PositionEmbedding(max_positions, dim, learned=True)
    nn.init.normal_(positions.weight, 0.0, 0.1)
    return positions


def _linear(in_features: int, out_features: int, dropout: float = 0.0) -> WeightNormLinear:
    """dropout: the dropout applied to this layer's input (it keeps the output variance as without)."""
    return WeightNormLinear(in_features, out_features, std=math.sqrt((1.0 - dropout) / in_features))


class ConvGLUBlock(nn.Module):
    """[zero padding, dropout, convolution to 2 * out channels, GLU] on (T, B, in); `residual` is the skip branch."""

    def __init__(self, in_dim: int, out_dim: int, kernel: int, dropout: float, causal: bool) -> None:
        super().__init__()
        std = math.sqrt(4.0 * (1.0 - dropout) / (kernel * in_dim))  # 4: a GLU keeps about 1/4 of the variance
        self.conv = WeightNormConv1d(in_dim, 2 * out_dim, kernel, std)
        self.residual_proj = _linear(in_dim, out_dim) if in_dim != out_dim else None
        # Both sides for the encoder (the extra one on the right for an even width); causal: left only.
        self.padding = (kernel - 1, 0) if causal else ((kernel - 1) // 2, kernel // 2)
        self.history_size = kernel - 1
        self.dropout = dropout

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.residual_proj is None else self.residual_proj(x)

    def forward(
        self, x: torch.Tensor, padding: torch.Tensor | None = None, history: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (T, B, in) -> (GLU output (T, B, out), the new history or None).

        padding (T, B, 1) bool: positions zeroed before the convolution. history (B, k - 1, in):
        a causal block's previous inputs, in place of its zero padding (cached decoding).
        """
        if padding is not None:
            x = x.masked_fill(padding, 0.0)
        x = fast_dropout(x, self.dropout, self.training)
        if history is None:
            x = F.pad(x, (0, 0, 0, 0, *self.padding))
        else:
            window = torch.cat([history, x.transpose(0, 1)], dim=1)  # (B, k - 1 + T, in)
            history = window[:, window.size(1) - self.history_size :]
            x = window.transpose(0, 1)
        return F.glu(self.conv(x), dim=-1), history


class MultiStepAttention(nn.Module):
    """One decoder layer's own attention over the encoder output (Gehring et al. 2017, section 3.3)."""

    def __init__(self, conv_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.in_proj = _linear(conv_dim, embed_dim)
        self.out_proj = _linear(embed_dim, conv_dim)

    def forward(
        self, h: torch.Tensor, target_embed: torch.Tensor, enc: EncoderOut
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h (T, B, C) GLU output, target_embed (T, B, E) -> (h with attention (T, B, C), weights (B, T, S) float32)."""
        query = (self.in_proj(h) + target_embed) * SQRT_HALF  # (T, B, E)
        scores = torch.bmm(query.transpose(0, 1), enc["keys"])  # (B, T, S)
        weights = torch.softmax(scores.float().masked_fill(enc["padding"], float("-inf")), dim=-1)
        values = enc["values"]  # (B, S, E)
        # sum_j a_j v_j, times m * sqrt(1/m) = sqrt(m) for m real source tokens (the paper's rescaling)
        context = torch.bmm(weights.to(values.dtype), values) * enc["scale"]  # (B, T, E)
        return (self.out_proj(context.transpose(0, 1)) + h).mul_(SQRT_HALF), weights


def _widths(layers: list[tuple[int, int]]) -> list[int]:
    """Input width of each block and the stack's output width: [C_0, C_0, C_1, ..., C_last]."""
    return [layers[0][0]] + [dim for dim, _ in layers]


class ConvEncoder(nn.Module):
    def __init__(
        self, vocab: int, embed_dim: int, layers: list, dropout: float, max_positions: int, pad_index: int
    ) -> None:
        super().__init__()
        self.pad_index, self.dropout = pad_index, dropout
        self.embed = _embedding(vocab, embed_dim, pad_index)
        self.positions = _positions(max_positions, embed_dim)
        widths = _widths(layers)
        self.fc1 = _linear(embed_dim, widths[0], dropout)
        self.blocks = nn.ModuleList(
            ConvGLUBlock(widths[i], dim, kernel, dropout, causal=False) for i, (dim, kernel) in enumerate(layers)
        )
        self.fc2 = _linear(widths[-1], embed_dim)
        self.grad_scale = 1.0  # set by the model: 1 / (2 * attention layers)

    def forward(self, src_tokens: torch.Tensor) -> EncoderOut:
        tokens = src_tokens.t()  # (S, B): the stack works time-major
        padding = tokens.eq(self.pad_index).unsqueeze(2)  # (S, B, 1)
        e = self.embed(tokens) + self.positions(tokens.size(0)).unsqueeze(1)
        e = fast_dropout(e, self.dropout, self.training)  # (S, B, E)
        x = self.fc1(e)  # (S, B, C)
        conv_padding = padding if bool(padding.any()) else None
        for block in self.blocks:
            residual = block.residual(x)
            h, _ = block(x, padding=conv_padding)
            x = (h + residual).mul_(SQRT_HALF)
        z = self.fc2(x)  # (S, B, E)
        if conv_padding is not None:
            z = z.masked_fill(padding, 0.0)
        z = grad_multiply(z, self.grad_scale)
        values = ((z + e) * SQRT_HALF).transpose(0, 1).contiguous()  # (B, S, E)
        real = (~padding).sum(0).to(values.dtype)  # (B, 1)
        return {
            "keys": z.permute(1, 2, 0).contiguous(),  # (B, E, S): laid out once for every layer and step
            "values": values,
            "padding": padding.permute(1, 2, 0),  # (B, 1, S)
            "scale": real.sqrt().unsqueeze(2),  # (B, 1, 1)
        }


class ConvDecoder(nn.Module):
    def __init__(self, vocab: int, c: FConvConfig, layers: list, attention: list[bool], pad_index: int) -> None:
        super().__init__()
        self.dropout = c.dropout
        self.embed = _embedding(vocab, c.decoder_embed_dim, pad_index)
        self.positions = _positions(c.max_target_positions, c.decoder_embed_dim)
        widths = _widths(layers)
        self.fc1 = _linear(c.decoder_embed_dim, widths[0], c.dropout)
        self.blocks = nn.ModuleList(
            ConvGLUBlock(widths[i], dim, kernel, c.dropout, causal=True) for i, (dim, kernel) in enumerate(layers)
        )
        self.attention = nn.ModuleList(
            MultiStepAttention(dim, c.decoder_embed_dim) if wanted else None
            for (dim, _), wanted in zip(layers, attention, strict=True)
        )
        self.fc2 = _linear(widths[-1], c.decoder_out_embed_dim)

    def initial_history(self, batch_size: int) -> list[torch.Tensor]:
        """Zeros (B, k_i - 1, C_i) per layer: what the full pass's left padding holds."""
        weight = self.fc1.weight_v
        return [weight.new_zeros(batch_size, block.history_size, block.conv.in_channels) for block in self.blocks]

    def forward(
        self, tokens: torch.Tensor, enc: EncoderOut, offset: int = 0, history: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor] | None]:
        """tokens (B, T) at positions offset.. -> (features (B, T, D_out), weights per attention layer, history)."""
        tokens = tokens.t()
        g = self.embed(tokens) + self.positions(tokens.size(0), offset).unsqueeze(1)
        g = fast_dropout(g, self.dropout, self.training)  # (T, B, E), also the attention queries' part
        x = self.fc1(g)  # (T, B, C)
        weights, new_history = [], []
        for i, (block, attention) in enumerate(zip(self.blocks, self.attention, strict=True)):
            residual = block.residual(x)
            h, window = block(x, history=None if history is None else history[i])
            new_history.append(window)
            if attention is not None:
                h, layer_weights = attention(h, g, enc)
                weights.append(layer_weights)
            x = (h + residual).mul_(SQRT_HALF)
        features = fast_dropout(self.fc2(x.transpose(0, 1)), self.dropout, self.training)
        return features, weights, None if history is None else new_history


@ARCHITECTURES.register("fconv", config=FConvConfig)
class FConvModel(EncoderDecoderModel):
    """Convolutional encoder-decoder with GLUs and multi-step attention (ConvS2S, Gehring et al. 2017)."""

    def __init__(self, c: FConvConfig, src_vocab: int, tgt_vocab: int, pad_index: int, eos_index: int) -> None:
        super().__init__()
        self.config = c
        self.pad_index, self.eos_index = pad_index, eos_index
        encoder_layers = parse_conv_layers(c.encoder_layers, "--encoder-layers")
        decoder_layers = parse_conv_layers(c.decoder_layers, "--decoder-layers")
        attention = parse_attention(c.decoder_attention, len(decoder_layers), "--decoder-attention")
        self.encoder = ConvEncoder(
            src_vocab, c.encoder_embed_dim, encoder_layers, c.dropout, c.max_source_positions, pad_index
        )
        self.decoder = ConvDecoder(tgt_vocab, c, decoder_layers, attention, pad_index)
        self.encoder.grad_scale = 1.0 / (2.0 * sum(attention))
        if c.share_input_output_embed:
            self.output_projection = None
            self.output_projection_bias = nn.Parameter(torch.zeros(tgt_vocab))
        else:
            self.output_projection = _linear(c.decoder_out_embed_dim, tgt_vocab, c.dropout)
            self.output_projection_bias = None

    @classmethod
    def build(
        cls, config: FConvConfig, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
    ) -> FConvModel:
        c = config
        if not 0.0 <= c.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {c.dropout}")
        for name in ("encoder_embed_dim", "decoder_embed_dim", "decoder_out_embed_dim"):
            if getattr(c, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(c, name)}")
        layers = parse_conv_layers(c.decoder_layers, "--decoder-layers")
        parse_conv_layers(c.encoder_layers, "--encoder-layers")
        if not any(parse_attention(c.decoder_attention, len(layers), "--decoder-attention")):
            raise ValueError(
                f"--decoder-attention {c.decoder_attention!r} gives no layer attention: the decoder would never "
                "read the source"
            )
        if c.share_input_output_embed and c.decoder_out_embed_dim != c.decoder_embed_dim:
            raise ValueError(
                "--share-input-output-embed needs --decoder-out-embed-dim equal to --decoder-embed-dim "
                f"({c.decoder_out_embed_dim} != {c.decoder_embed_dim})"
            )
        return cls(c, src_vocab_size, tgt_vocab_size, pad_index, eos_index)

    @property
    def output_weight(self) -> torch.Tensor:
        if self.output_projection is None:
            return self.decoder.embed.weight
        return self.output_projection.forward_weight()

    @property
    def output_bias(self) -> torch.Tensor | None:
        if self.output_projection is None:
            return self.output_projection_bias
        return self.output_projection.bias

    def max_positions(self) -> tuple[int, int]:
        return (self.config.max_source_positions, self.config.max_target_positions)

    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> EncoderOut:
        """-> keys z (B, E, S), values (z + e) sqrt(0.5) (B, S, E), padding (B, 1, S), scale sqrt(m) (B, 1, 1)."""
        return self.encoder(src_tokens)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
        return_all_attention: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (features (B, T, D_out), attention: the mean over attention layers (B, T, S), or with
        return_all_attention each attention layer's weights (B, L_att, T, S), in layer order)."""
        features, weights, _ = self.decoder(prev_output_tokens, self.encode(src_tokens, src_lengths))
        if return_all_attention:
            return features, torch.stack(weights, dim=1)
        return features, _mean(weights)

    def decode_features(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        history = self.decoder.initial_history(prev_tokens.size(0)) if state is None else state["history"]
        step = prev_tokens.size(1) - 1
        features, weights, history = self.decoder(prev_tokens[:, -1:], encoder_out, step, history)
        attn = _mean(weights)[:, 0] if need_attn else None
        return features[:, 0], attn, {"history": history}


def _mean(weights: list[torch.Tensor]) -> torch.Tensor:
    return weights[0] if len(weights) == 1 else torch.stack(weights).mean(0)


# --- presets: pure functions returning a config ----------------------------------------


@ARCHITECTURES.register_preset("fconv_iwslt_de_en", base="fconv")
def fconv_iwslt_de_en() -> FConvConfig:
    """fairseq's IWSLT'14 de-en ConvS2S: embeddings 256, 4 encoder and 3 decoder layers of (256, 3)."""
    return FConvConfig(
        encoder_embed_dim=256,
        encoder_layers="[(256, 3)] * 4",
        decoder_embed_dim=256,
        decoder_layers="[(256, 3)] * 3",
        decoder_out_embed_dim=256,
    )


@ARCHITECTURES.register_preset("conv_s2s", base="fconv")
def conv_s2s() -> FConvConfig:
    """A CPU-sized ConvS2S for Multi30k: fconv_iwslt_de_en's network with dropout 0.2 (fairseq's IWSLT recipe)."""
    return FConvConfig(
        encoder_embed_dim=256,
        encoder_layers="[(256, 3)] * 4",
        decoder_embed_dim=256,
        decoder_layers="[(256, 3)] * 3",
        decoder_out_embed_dim=256,
        dropout=0.2,
    )


_WMT_EN_DE = "[(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2"
_WMT_EN_FR = "[(512, 3)] * 6 + [(768, 3)] * 4 + [(1024, 3)] * 3 + [(2048, 1)] * 1 + [(4096, 1)] * 1"


@ARCHITECTURES.register_preset("fconv_wmt_en_de", base="fconv")
def fconv_wmt_en_de() -> FConvConfig:
    """Gehring et al.'s WMT'14 en-de model: embeddings 768, 15 layers each side widening 512 -> 2048."""
    return FConvConfig(
        encoder_embed_dim=768,
        encoder_layers=_WMT_EN_DE,
        decoder_embed_dim=768,
        decoder_layers=_WMT_EN_DE,
        decoder_out_embed_dim=512,
    )


@ARCHITECTURES.register_preset("fconv_wmt_en_fr", base="fconv")
def fconv_wmt_en_fr() -> FConvConfig:
    """Gehring et al.'s WMT'14 en-fr model: embeddings 768, 15 layers each side widening 512 -> 4096."""
    return FConvConfig(
        encoder_embed_dim=768,
        encoder_layers=_WMT_EN_FR,
        decoder_embed_dim=768,
        decoder_layers=_WMT_EN_FR,
        decoder_out_embed_dim=512,
    )
