"""The encoder-decoder interface every architecture implements.

Search and the trainer know a model only through this interface, so a new family
(recurrent, convolutional) plugs into the same beam search and the same trainer.

Conventions (shapes): B batch, S source length, T target length, D model dim, V vocab.
Encoder output and decoder state are plain dicts of batch-first tensors (or nested
dicts/lists of them); the defaults of `reorder_encoder_out` and `reorder_state`
index-select dim 0 of every tensor, which is right for any model that keeps to that.

Languages: `src_lang` and `tgt_lang` are optional LongTensors (B,) of per-sentence language
ids, the source language for the encoder and the target language for the decoder. A model
with language embeddings reads them; the others (both families here) ignore them. Search
and the criterions pass them only when they are set, so a model whose methods lack these
arguments keeps working for everything that does not use languages. A model that needs
`src_lang` while decoding keeps it in its encoder output (reordered with the rest of it).

The decoder's first input is a start token per sentence: EOS by default, or one the
caller chooses (a target-language tag such as `<2en>`); models treat it as any other
target token.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

EncoderOut = dict[str, Any]
DecoderState = dict[str, Any]


def _index_select_tree(tree: Any, order: torch.Tensor) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.index_select(0, order)
    if isinstance(tree, dict):
        return {key: _index_select_tree(value, order) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_index_select_tree(value, order) for value in tree)
    return tree


class EncoderDecoderModel(nn.Module):
    """Base class: teacher-forced `forward` for training, `encode`/`decode_step` for search."""

    # Set by subclasses: the special indices the model needs (never the Dictionary itself).
    pad_index: int = 1
    eos_index: int = 2

    @classmethod
    def build(
        cls, config: Any, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
    ) -> EncoderDecoderModel:
        """Build from a typed config and the dictionary sizes."""
        raise NotImplementedError

    # --- training -----------------------------------------------------------------
    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced pass: returns (features (B, T, D), attention (B, T, S) or None).

        prev_output_tokens (B, T) is the target shifted right behind the start token.
        src_lang, tgt_lang: language ids (B,) or None (see the module docstring).
        Features are the decoder output *before* the vocabulary projection, so the
        criterion can fuse the projection with the loss and skip padded positions.
        """
        raise NotImplementedError

    def output_layer(self, features: torch.Tensor) -> torch.Tensor:
        """Project features (..., D) to vocabulary logits (..., V)."""
        return nn.functional.linear(features, self.output_weight, self.output_bias)

    @property
    def output_weight(self) -> torch.Tensor:
        """(V, D) weight of the vocabulary projection."""
        raise NotImplementedError

    @property
    def output_bias(self) -> torch.Tensor | None:
        return None

    # --- incremental decoding -------------------------------------------------------
    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> EncoderOut:
        """src_tokens (B, S) right-padded, src_lengths (B,), src_lang (B,) or None -> encoder output."""
        raise NotImplementedError

    def decode_features(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        """One step of cached decoding, up to the features before the vocabulary projection.

        prev_tokens: (B, t) all target tokens so far, beginning with the start token (EOS
        or the caller's, e.g. a language tag); the model consumes only the last one and
        keeps what it needs of the past in `state`. tgt_lang: (B,) or None, in the same
        row order as prev_tokens (search reorders it with the beam).
        Returns (features (B, D), attention over the source (B, S) or None, new state).
        need_attn=False lets a model skip work that only the attention output needs.
        """
        raise NotImplementedError

    def decode_step(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        """`decode_features` then the projection: (log_probs (B, V) in float32, attention or None, state)."""
        # tgt_lang only when set, so a subclass whose decode_features predates it still works.
        lang = {} if tgt_lang is None else {"tgt_lang": tgt_lang}
        features, attn, state = self.decode_features(prev_tokens, encoder_out, state, need_attn, **lang)
        return nn.functional.log_softmax(self.output_layer(features).float(), dim=-1), attn, state

    def reorder_encoder_out(self, encoder_out: EncoderOut, order: torch.Tensor) -> EncoderOut:
        return _index_select_tree(encoder_out, order)

    def reorder_state(self, state: DecoderState, order: torch.Tensor) -> DecoderState:
        return _index_select_tree(state, order)

    def max_positions(self) -> tuple[int, int]:
        """(max source length, max target length) the model accepts."""
        return (1024, 1024)
