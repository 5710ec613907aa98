"""A Transformer encoder with a masked-LM head: XLM's cross-lingual pretraining model.

Its parameters carry the translation Transformer's encoder names (encoder_embed,
encoder_positions, encoder_lang_embed, encoder_layers.N, encoder_norm), so `--init-from` loads
them into a translation model's encoder by name and, with `--init-from-map xlm`, into its decoder
too. The head predicts tokens with the (tied) input embeddings plus a bias of its own (lm_bias),
which no translation model has.

It implements the part of the model interface the criterions use (forward to features,
output_weight, output_bias, pad_index), so the usual cross-entropy criterion trains it on
targets that are padding everywhere except the masked positions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from toolkit.models.transformer import EncoderLayer, SourceEncoder, TransformerConfig, _embedding
from toolkit.modules.positions import PositionEmbedding


class MaskedLMEncoder(SourceEncoder, nn.Module):
    """The translation model's encoder (same config, same names) predicting masked tokens."""

    def __init__(self, c: TransformerConfig, vocab: int, pad_index: int, eos_index: int) -> None:
        super().__init__()
        self.config = c
        self.pad_index, self.eos_index = pad_index, eos_index
        self.encoder_embed = _embedding(vocab, c.encoder_embed_dim, pad_index)
        self.encoder_positions = PositionEmbedding(c.max_source_positions, c.encoder_embed_dim, c.learned_pos)
        self.encoder_lang_embed = (
            _embedding(c.language_embeddings, c.encoder_embed_dim, None) if c.language_embeddings else None
        )
        self.encoder_layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.encoder_norm = nn.LayerNorm(c.encoder_embed_dim) if c.normalize_before else None
        # Post-norm layers end normalised; pre-norm ones get encoder_norm. Either way the head reads
        # normalised states, as XLM's does.
        self.lm_bias = nn.Parameter(torch.zeros(vocab))
        self.encoder_scale = 1.0 if c.no_scale_embedding else math.sqrt(c.encoder_embed_dim)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.encoder_embed.weight

    @property
    def output_bias(self) -> torch.Tensor:
        return self.lm_bias

    def max_positions(self) -> tuple[int, int]:
        return (self.config.max_source_positions, self.config.max_source_positions)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor | None = None,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, None]:
        """src_tokens (B, L) with masked positions -> features (B, L, D) at every position."""
        return self._encode(src_tokens, src_lang)[0], None
