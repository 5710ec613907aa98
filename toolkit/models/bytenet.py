"""ByteNet (Kalchbrenner et al. 2016, "Neural Machine Translation in Linear Time"), with cached decoding.

Two stacks of residual blocks of dilated 1-D convolutions, the target network stacked on top of
the source network, and no attention. Each block is the final version of the paper's: LayerNorm,
ReLU, 1x1 (2d -> d), LayerNorm, ReLU, dilated 1xk (d -> d), LayerNorm, ReLU, 1x1 (d -> 2d), plus
the residual; dilations double 1, 2, 4, ..., --max-dilation and start again. Normalization is
over channels at each position, never over time, so no statistic reaches across positions.

Dynamic unfolding. Each sentence gets its own unfolded length |t^| = floor(a * |s| + b)
(--unfold-a, --unfold-b; the paper's a = 1.2, b = 0), computed in float64 with 1e-6 of slack so
that a product which is an integer on paper is never floored below it, and never below 0. The
source network (centred convolutions) runs over max(|s|, |t^|) positions per sentence: the
source embeddings are zero from |s| on, and the input of every convolution is zero from that
length on, exactly as if the sentence were alone, so padding in a batch changes nothing. Its
output (LayerNorm, ReLU, 1x1 2d -> d) gives one *source column* per position, zero from |t^|
on. Target position t reads source column t concatenated with the embedding (d) of its input
token: 2d channels into the causal target network. Past |t^| (and past the columns computed,
max |t^| over the batch) the target network reads zeros for the source part, in training and
in search alike, so decoding goes on until EOS or the search's own length limit.

`encode` returns the columns (B, U, d), U = max |t^| over the batch, and each sentence's |t^|
(B,); `decode_step` at step t reads column t (zeros from U on). The decoder state is a plain
dict {"buffers": [(B, (k-1)*dilation, d) per target block]}: each causal convolution's last
inputs, batch-first, so the base class's reorder_state serves the beam and a step costs one
column per layer. Embeddings enter at unit scale (times sqrt(width)). There are no position or
language embeddings (`src_lang`/`tgt_lang` are accepted and ignored; a target-language tag as
the start token still works).
Shapes: B batch, S source length, T target length, U unfolded length, d model dim, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from toolkit.config import option
from toolkit.models.base import DecoderState, EncoderDecoderModel, EncoderOut
from toolkit.modules.dilated_convolution import DilatedConv1d
from toolkit.modules.dropout import fast_dropout
from toolkit.registry import ARCHITECTURES


@dataclass
class ByteNetConfig:
    model_dim: int = option(
        800, "d: the blocks' inner width; 2d channels between blocks, source embeddings 2d, target embeddings d"
    )
    source_blocks: int = option(30, "residual blocks in the source network")
    target_blocks: int = option(30, "residual blocks in the target network")
    max_dilation: int = option(16, "dilations double 1, 2, 4, ... up to this power of 2, then start again")
    source_kernel_size: int = option(3, "kernel width of the source network's centred convolutions (odd)")
    target_kernel_size: int = option(3, "kernel width of the target network's causal convolutions")
    unfold_a: float = option(1.2, "dynamic unfolding: the target reads floor(a * |s| + b) source columns")
    unfold_b: float = option(0.0, "dynamic unfolding: b of floor(a * |s| + b)")
    dropout: float = option(0.1, "dropout on embeddings and on each residual block's output")
    share_input_output_embed: bool = option(False, "tie the output projection to the target embeddings")
    max_source_positions: int = option(1024, "longest source accepted")
    max_target_positions: int = option(1024, "longest target generated")


def dilations(blocks: int, max_dilation: int) -> list[int]:
    """1, 2, 4, ..., max_dilation, 1, 2, ... for `blocks` blocks."""
    cycle = max_dilation.bit_length()  # max_dilation = 2 ** (cycle - 1)
    return [2 ** (i % cycle) for i in range(blocks)]


def receptive_field(kernel_size: int, block_dilations: list[int]) -> int:
    """Inputs one output reads through the stack: 1 + sum of (k-1) * dilation (centred: both sides together)."""
    return 1 + sum((kernel_size - 1) * dilation for dilation in block_dilations)


def unfolded_lengths(src_lengths: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """|t^| = floor(a * |s| + b) per sentence (B,), in float64 on the host (1e-6 of slack), at least 0."""
    lengths = torch.floor(a * src_lengths.detach().cpu().double() + b + 1e-6).long().clamp(min=0)
    return lengths.to(src_lengths.device)


class ResidualBlock(nn.Module):
    """x + dropout(1x1 up(relu(LN(dilated conv(relu(LN(1x1 down(relu(LN(x)))))))))), over (B, T, 2d)."""

    def __init__(self, dim: int, kernel_size: int, dilation: int, causal: bool, dropout: float) -> None:
        super().__init__()
        self.norm_in, self.reduce = nn.LayerNorm(2 * dim), nn.Linear(2 * dim, dim)
        self.norm_conv = nn.LayerNorm(dim)
        self.conv = DilatedConv1d(dim, dim, kernel_size, dilation, causal)
        self.norm_out, self.expand = nn.LayerNorm(dim), nn.Linear(dim, 2 * dim)
        self.dropout = dropout

    def conv_input(self, x: torch.Tensor) -> torch.Tensor:
        """The position-wise part before the convolution: (..., 2d) -> (..., d)."""
        return F.relu(self.norm_conv(self.reduce(F.relu(self.norm_in(x)))))

    def residual(self, x: torch.Tensor, conv_out: torch.Tensor) -> torch.Tensor:
        y = self.expand(F.relu(self.norm_out(conv_out)))
        return x + fast_dropout(y, self.dropout, self.training)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, 2d); keep (B, T, 1): 1 where a position exists, 0 where the convolution must see zeros."""
        u = self.conv_input(x)
        if keep is not None:
            u = u * keep
        return self.residual(x, self.conv(u))

    def step(self, x: torch.Tensor, buffer: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal blocks only: x (B, 2d), the convolution's buffer -> (output (B, 2d), new buffer)."""
        conv_out, buffer = self.conv.step(self.conv_input(x), buffer)
        return self.residual(x, conv_out), buffer


class _Head(nn.Module):
    """LayerNorm, ReLU and a 1x1 convolution 2d -> d: the end of either network."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm, self.proj = nn.LayerNorm(2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.norm(x)))


def _embedding(vocab: int, dim: int, pad_index: int) -> nn.Embedding:
    embed = nn.Embedding(vocab, dim, padding_idx=pad_index)
    nn.init.normal_(embed.weight, mean=0.0, std=dim**-0.5)
    nn.init.zeros_(embed.weight[pad_index])
    return embed


def _positions_below(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """(B, length, 1) bool: position < lengths[b]."""
    return (torch.arange(length, device=lengths.device)[None, :] < lengths[:, None]).unsqueeze(-1)


def _validate(c: ByteNetConfig) -> None:
    for name in ("model_dim", "source_blocks", "target_blocks", "max_source_positions", "max_target_positions"):
        if getattr(c, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(c, name)}")
    if c.max_dilation < 1 or c.max_dilation & (c.max_dilation - 1):
        raise ValueError(f"--max-dilation must be a power of 2 (1, 2, 4, ...), got {c.max_dilation}")
    if c.source_kernel_size < 3 or c.source_kernel_size % 2 == 0:
        raise ValueError(f"--source-kernel-size must be odd and at least 3 (centred), got {c.source_kernel_size}")
    if c.target_kernel_size < 2:
        raise ValueError(f"--target-kernel-size must be at least 2, got {c.target_kernel_size}")
    if c.unfold_a < 0 or c.unfold_b < 0 or c.unfold_a + c.unfold_b <= 0:
        raise ValueError(
            f"--unfold-a and --unfold-b must be at least 0, not both 0, got a = {c.unfold_a}, b = {c.unfold_b}"
        )
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {c.dropout}")


@ARCHITECTURES.register("bytenet", config=ByteNetConfig)
class ByteNetModel(EncoderDecoderModel):
    """ByteNet (Kalchbrenner et al. 2016): dilated convolutional source and target networks, no attention."""

    def __init__(self, c: ByteNetConfig, src_vocab: int, tgt_vocab: int, pad_index: int, eos_index: int) -> None:
        super().__init__()
        self.config = c
        self.pad_index, self.eos_index = pad_index, eos_index
        d = c.model_dim
        self.source_embed = _embedding(src_vocab, 2 * d, pad_index)
        self.target_embed = _embedding(tgt_vocab, d, pad_index)
        # Embeddings drawn with std 1/sqrt(width) enter at unit scale (as the Transformer's), so the
        # token identity is not swamped by the first blocks' outputs on the residual path.
        self.source_scale, self.target_scale = math.sqrt(2 * d), math.sqrt(d)
        self.source_blocks = nn.ModuleList(
            ResidualBlock(d, c.source_kernel_size, dilation, False, c.dropout)
            for dilation in dilations(c.source_blocks, c.max_dilation)
        )
        self.target_blocks = nn.ModuleList(
            ResidualBlock(d, c.target_kernel_size, dilation, True, c.dropout)
            for dilation in dilations(c.target_blocks, c.max_dilation)
        )
        self.source_head, self.target_head = _Head(d), _Head(d)
        if c.share_input_output_embed:
            self.output_projection = None
        else:
            self.output_projection = nn.Parameter(torch.empty(tgt_vocab, d))
            nn.init.normal_(self.output_projection, mean=0.0, std=d**-0.5)

    @classmethod
    def build(
        cls, config: ByteNetConfig, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
    ) -> ByteNetModel:
        _validate(config)
        return cls(config, src_vocab_size, tgt_vocab_size, pad_index, eos_index)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.target_embed.weight if self.output_projection is None else self.output_projection

    def max_positions(self) -> tuple[int, int]:
        return (self.config.max_source_positions, self.config.max_target_positions)

    def receptive_field(self) -> int:
        """Target inputs one target output reads (itself and the past): 1 + sum of (k-1) * dilation."""
        c = self.config
        return receptive_field(c.target_kernel_size, dilations(c.target_blocks, c.max_dilation))

    def source_receptive_field(self) -> int:
        """Source positions one source column reads, centred: (field - 1) / 2 on each side."""
        c = self.config
        return receptive_field(c.source_kernel_size, dilations(c.source_blocks, c.max_dilation))

    # --- source network ----------------------------------------------------------------
    def unfolded_lengths(self, src_lengths: torch.Tensor) -> torch.Tensor:
        """|t^| (B,) per sentence: the source columns its target reads before zeros."""
        return unfolded_lengths(src_lengths, self.config.unfold_a, self.config.unfold_b)

    def _source_columns(self, src_tokens: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src_tokens (B, S) right-padded -> (columns (B, U, d), zero from |t^| on; |t^| (B,))."""
        src_lengths = src_lengths.to(src_tokens.device)
        unfolded = self.unfolded_lengths(src_lengths)
        span = torch.maximum(src_lengths, unfolded)  # each sentence's own network length
        length = int(span.max())
        tokens = src_tokens[:, :length]
        if tokens.size(1) < length:
            tokens = F.pad(tokens, (0, length - tokens.size(1)), value=self.pad_index)
        # Zero input beyond |s|, whatever the padding row of the embedding has become.
        x = self.source_embed(tokens) * (_positions_below(src_lengths, length) * self.source_scale)
        x = fast_dropout(x, self.config.dropout, self.training)
        keep = _positions_below(span, length).to(x.dtype)
        for block in self.source_blocks:
            x = block(x, keep)
        columns = self.source_head(x) * _positions_below(unfolded, length)
        return columns[:, : int(unfolded.max())], unfolded

    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> EncoderOut:
        columns, unfolded = self._source_columns(src_tokens, src_lengths)
        return {"columns": columns, "unfolded_lengths": unfolded}

    # --- target network ----------------------------------------------------------------
    def _target_input(self, columns: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """columns (B, U', d) for the positions of tokens (B, T'), zero-padded to T' -> input (B, T', 2d)."""
        embedded = fast_dropout(self.target_embed(tokens) * self.target_scale, self.config.dropout, self.training)
        columns = columns[:, : tokens.size(1)].to(embedded.dtype)
        if columns.size(1) < tokens.size(1):
            columns = F.pad(columns, (0, 0, 0, tokens.size(1) - columns.size(1)))
        return torch.cat([columns, embedded], dim=-1)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        columns, _ = self._source_columns(src_tokens, src_lengths)
        x = self._target_input(columns, prev_output_tokens)
        for block in self.target_blocks:
            x = block(x)
        return self.target_head(x), None

    def decode_features(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        step = prev_tokens.size(1) - 1
        columns = encoder_out["columns"]
        x = self._target_input(columns[:, step : step + 1], prev_tokens[:, -1:])[:, 0]  # zeros from U on
        buffers = state["buffers"] if state is not None else [None] * len(self.target_blocks)
        new_buffers = []
        for block, buffer in zip(self.target_blocks, buffers, strict=True):
            x, buffer = block.step(x, buffer)
            new_buffers.append(buffer)
        return self.target_head(x), None, {"buffers": new_buffers}


# --- presets: pure functions returning a config ----------------------------------------


@ARCHITECTURES.register_preset("bytenet_small", base="bytenet")
def bytenet_small() -> ByteNetConfig:
    """A CPU-sized ByteNet for subwords: d = 128 (256 between blocks), 10 + 10 blocks, dilations 1..16 twice.

    The source reach of 62 positions each side and the target's receptive field of 125 cover
    whole Multi30k sentences. b = 2 gives short subword sentences a few more source columns
    than a = 1.2 alone, so a target somewhat longer than its source still reads source columns.
    """
    return ByteNetConfig(
        model_dim=128,
        source_blocks=10,
        target_blocks=10,
        unfold_b=2.0,
        dropout=0.2,
        share_input_output_embed=True,
    )
