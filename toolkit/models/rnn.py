"""The recurrent encoder-decoder family, step by step as the literature introduced it.

- no attention (Sutskever et al. 2014): the encoder's final state starts the decoder and is
  the only context; with `context_every_step` (Cho et al. 2014) it is also fed to every step
  and to the output layer.
- Bahdanau additive attention (Bahdanau et al. 2014): scored from the previous decoder state;
  the context is an input of the recurrent step and of a deep output layer.
- Luong attention (Luong et al. 2015): scored from the current decoder state with dot, general
  or concat; h~ = tanh(W_c [c; h]) is the output, and with input feeding h~ of step t-1 is
  concatenated to the input of step t. Global, or local (local-m, local-p) windows.

One decoder `_step` serves the teacher-forced pass and cached generation, so both compute
the same thing by construction. There are no language embeddings: `src_lang`/`tgt_lang`
are accepted and ignored. Shapes: B batch, S source, T target, E encoder output dim,
H decoder hidden size, L decoder layers, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from toolkit.config import option
from toolkit.models.base import DecoderState, EncoderDecoderModel, EncoderOut
from toolkit.modules.dropout import fast_dropout
from toolkit.modules.recurrent_cells import RNN_TYPES, StackedRecurrentCell
from toolkit.modules.rnn_attention import AdditiveScore, RecurrentAttention, build_score
from toolkit.registry import ARCHITECTURES

ATTENTIONS = ("none", "bahdanau", "luong")


@dataclass
class RNNConfig:
    rnn_type: str = option("lstm", "recurrent cell: lstm or gru")
    encoder_embed_dim: int = option(512, "source embedding size")
    encoder_hidden_size: int = option(512, "encoder hidden size per direction")
    encoder_layers: int = option(1, "encoder layers")
    encoder_bidirectional: bool = option(False, "read the source both ways; final states are concatenated")
    encoder_dropout_in: float = option(0.1, "dropout on source embeddings")
    encoder_dropout_out: float = option(0.1, "dropout between encoder layers and on its outputs")
    reverse_source: bool = option(False, "read the source backwards (Sutskever et al. 2014)")
    decoder_embed_dim: int = option(512, "target embedding size")
    decoder_hidden_size: int = option(512, "decoder hidden size")
    decoder_layers: int = option(1, "decoder layers")
    decoder_out_embed_dim: int = option(512, "size of the features fed to the vocabulary projection")
    decoder_dropout_in: float = option(0.1, "dropout on target embeddings")
    decoder_dropout_out: float = option(0.1, "dropout between decoder layers and on its outputs")
    attention: str = option("luong", "none (Sutskever/Cho), bahdanau (additive) or luong")
    attention_score: str = option("general", "Luong score: dot, general or concat")
    attention_window: str = option("global", "Luong window: global, local-m or local-p")
    local_window_size: int = option(10, "half-width D of a local attention window")
    input_feeding: bool = option(True, "Luong input feeding: the previous attentional state joins the input")
    context_every_step: bool = option(False, "no attention: feed the encoder summary to every step (Cho et al.)")
    share_decoder_input_output_embed: bool = option(False, "tie the output projection to the target embeddings")
    share_all_embeddings: bool = option(False, "tie source, target and output embeddings (joined dictionary)")
    max_source_positions: int = option(100000, "longest source accepted")
    max_target_positions: int = option(100000, "longest target generated")


def _uniform_init(module: nn.Module, bound: float = 0.1) -> None:
    """Uniform(-0.1, 0.1) weights, zero biases and a zero padding row: the classic seq2seq initialisation."""
    for name, param in module.named_parameters():
        if name.endswith("bias") or "bias_" in name:
            nn.init.zeros_(param)
        else:
            nn.init.uniform_(param, -bound, bound)


def _open_forget_gates(model: nn.Module) -> None:
    """LSTM forget-gate biases start at 1 (Jozefowicz et al. 2015), so deep stacks remember from the start.

    Gate order is i, f, g, o in nn.LSTM and in our cells; only the input-side bias is set.
    """
    for name, param in model.named_parameters():
        if name.startswith("encoder.rnn.bias_ih") or name.endswith("bias_input"):
            hidden = param.numel() // 4
            nn.init.ones_(param.data[hidden : 2 * hidden])


class RNNEncoder(nn.Module):
    """Embeddings -> packed (bi)LSTM/GRU, so padding never enters a state -> outputs and final states."""

    def __init__(self, c: RNNConfig, vocab: int, pad_index: int, embed: nn.Embedding | None = None) -> None:
        super().__init__()
        self.config, self.pad_index = c, pad_index
        self.embed = embed if embed is not None else nn.Embedding(vocab, c.encoder_embed_dim, padding_idx=pad_index)
        rnn_cls = nn.LSTM if c.rnn_type == "lstm" else nn.GRU
        self.rnn = rnn_cls(
            c.encoder_embed_dim,
            c.encoder_hidden_size,
            num_layers=c.encoder_layers,
            dropout=c.encoder_dropout_out if c.encoder_layers > 1 else 0.0,
            bidirectional=c.encoder_bidirectional,
            batch_first=True,
        )
        self.directions = 2 if c.encoder_bidirectional else 1
        self.output_dim = c.encoder_hidden_size * self.directions

    def forward(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """-> outputs (B, S, E), final hidden per layer (B, L_enc, E), final cell (LSTM) or None."""
        c = self.config
        if c.reverse_source:
            order = _reversal_index(src_lengths, src_tokens.size(1))
            src_tokens = src_tokens.gather(1, order)
        x = fast_dropout(self.embed(src_tokens), c.encoder_dropout_in, self.training)
        packed = pack_padded_sequence(x, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, final = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src_tokens.size(1))
        outputs = fast_dropout(outputs, c.encoder_dropout_out, self.training)
        if c.reverse_source:
            # Back to source order, so attention weights (alignments) refer to the real positions.
            outputs = outputs.gather(1, order.unsqueeze(2).expand_as(outputs))
        hidden, cell = final if c.rnn_type == "lstm" else (final, None)
        return outputs, self._per_layer(hidden), None if cell is None else self._per_layer(cell)

    def _per_layer(self, state: torch.Tensor) -> torch.Tensor:
        """(L*dirs, B, H) -> (B, L, dirs*H): forward and backward final states side by side."""
        layers_dirs, bsz, hidden = state.shape
        state = state.view(layers_dirs // self.directions, self.directions, bsz, hidden)
        return state.permute(2, 0, 1, 3).reshape(bsz, layers_dirs // self.directions, self.directions * hidden)


def _refuse_unused_flags(c: RNNConfig) -> None:
    """A flag that the chosen attention ignores is a mistake worth stopping for, not a silent no-op."""
    defaults = RNNConfig()
    luong_only = ("attention_score", "attention_window", "local_window_size", "input_feeding")
    unused = [name for name in luong_only if c.attention != "luong" and getattr(c, name) != getattr(defaults, name)]
    if c.context_every_step and c.attention != "none":
        unused.append("context_every_step")
    if c.attention == "luong" and c.attention_window == "global" and c.local_window_size != defaults.local_window_size:
        unused.append("local_window_size")
    if unused:
        flags = ", ".join("--" + name.replace("_", "-") for name in unused)
        setting = f"--attention {c.attention}" + (" with the global window" if c.attention == "luong" else "")
        raise ValueError(f"{flags} has no effect with {setting}")


def _reversal_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, S) gather index reversing each sentence's first `length` positions, padding left in place."""
    positions = torch.arange(width, device=lengths.device).unsqueeze(0)
    lengths = lengths.to(positions.device).unsqueeze(1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


@ARCHITECTURES.register("rnn", config=RNNConfig)
class RNNModel(EncoderDecoderModel):
    """LSTM/GRU encoder-decoder with no, Bahdanau or Luong (global/local) attention."""

    def __init__(self, c: RNNConfig, src_vocab: int, tgt_vocab: int, pad_index: int, eos_index: int) -> None:
        super().__init__()
        self.config = c
        self.pad_index, self.eos_index = pad_index, eos_index
        self.encoder = RNNEncoder(c, src_vocab, pad_index)
        E, H = self.encoder.output_dim, c.decoder_hidden_size
        if c.share_all_embeddings:
            self.decoder_embed = self.encoder.embed
        else:
            self.decoder_embed = nn.Embedding(tgt_vocab, c.decoder_embed_dim, padding_idx=pad_index)

        # Decoder initial states: the encoder's final states, projected when the sizes differ.
        self.hidden_proj = nn.Linear(E, H, bias=False) if E != H else None
        self.cell_proj = nn.Linear(E, H, bias=False) if E != H and c.rnn_type == "lstm" else None

        extra_dim, deep_output_dim = 0, 0
        self.attention = None
        if c.attention == "luong":
            self.attention = RecurrentAttention(
                build_score(c.attention_score, H, E), H, c.attention_window, c.local_window_size
            )
            self.combine = nn.Linear(E + H, H, bias=False)  # h~ = tanh(W_c [c; h])
            extra_dim = H if c.input_feeding else 0
            feature_dim = H
        elif c.attention == "bahdanau":
            self.attention = RecurrentAttention(AdditiveScore(H, E, H), H)
            extra_dim = E
            deep_output_dim = H + E + c.decoder_embed_dim
            feature_dim = c.decoder_out_embed_dim
        else:
            extra_dim = E if c.context_every_step else 0
            deep_output_dim = H + E + c.decoder_embed_dim if c.context_every_step else 0
            feature_dim = c.decoder_out_embed_dim if c.context_every_step else H
        # Bahdanau's and Cho's deep output t = tanh(W_o [s; c; e]) (tanh in place of the papers' maxout).
        self.deep_output = nn.Linear(deep_output_dim, feature_dim, bias=False) if deep_output_dim else None
        self.cells = StackedRecurrentCell(
            c.rnn_type, c.decoder_embed_dim, extra_dim, H, c.decoder_layers, c.decoder_dropout_out
        )
        self.out_proj = (
            nn.Linear(feature_dim, c.decoder_out_embed_dim) if feature_dim != c.decoder_out_embed_dim else None
        )
        if c.share_decoder_input_output_embed or c.share_all_embeddings:
            self.output_projection, self.output_projection_bias = None, None
        else:
            self.output_projection = nn.Parameter(torch.empty(tgt_vocab, c.decoder_out_embed_dim))
            self.output_projection_bias = nn.Parameter(torch.zeros(tgt_vocab))
        _uniform_init(self)
        for embed in (self.encoder.embed, self.decoder_embed):
            nn.init.zeros_(embed.weight.data[pad_index])
        if c.rnn_type == "lstm":
            _open_forget_gates(self)

    @classmethod
    def build(
        cls, config: RNNConfig, src_vocab_size: int, tgt_vocab_size: int, pad_index: int, eos_index: int
    ) -> RNNModel:
        c = config
        if c.rnn_type not in RNN_TYPES:
            raise ValueError(f"--rnn-type must be one of {', '.join(RNN_TYPES)}, got {c.rnn_type!r}")
        if c.attention not in ATTENTIONS:
            raise ValueError(f"--attention must be one of {', '.join(ATTENTIONS)}, got {c.attention!r}")
        for name in ("encoder_dropout_in", "encoder_dropout_out", "decoder_dropout_in", "decoder_dropout_out"):
            if not 0.0 <= getattr(c, name) < 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(c, name)}")
        for name in ("encoder_layers", "decoder_layers", "encoder_hidden_size", "decoder_hidden_size"):
            if getattr(c, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(c, name)}")
        _refuse_unused_flags(c)
        if c.share_all_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise ValueError(
                    "--share-all-embeddings needs a joined dictionary (source and target vocabularies differ)"
                )
            if c.encoder_embed_dim != c.decoder_embed_dim:
                raise ValueError("--share-all-embeddings needs encoder and decoder embedding dims to be equal")
        if (
            c.share_all_embeddings or c.share_decoder_input_output_embed
        ) and c.decoder_embed_dim != c.decoder_out_embed_dim:
            raise ValueError("sharing the output embedding needs --decoder-out-embed-dim equal to --decoder-embed-dim")
        return cls(c, src_vocab_size, tgt_vocab_size, pad_index, eos_index)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.decoder_embed.weight if self.output_projection is None else self.output_projection

    @property
    def output_bias(self) -> torch.Tensor | None:
        return self.output_projection_bias

    def max_positions(self) -> tuple[int, int]:
        return (self.config.max_source_positions, self.config.max_target_positions)

    # --- encoder ---------------------------------------------------------------------
    def encode(
        self, src_tokens: torch.Tensor, src_lengths: torch.Tensor, src_lang: torch.Tensor | None = None
    ) -> EncoderOut:
        outputs, hidden, cell = self.encoder(src_tokens, src_lengths)
        c = self.config
        # Decoder layer i starts from encoder layer i (or the encoder's top layer when it has fewer).
        layers = [min(i, hidden.size(1) - 1) for i in range(c.decoder_layers)]
        init_hidden = hidden[:, layers]
        if self.hidden_proj is not None:
            init_hidden = self.hidden_proj(init_hidden)
        enc: EncoderOut = {
            "encoder_out": outputs,
            "valid": src_tokens.ne(self.pad_index),
            "lengths": src_lengths.to(outputs.device),
            "init_hidden": init_hidden,
            "context": hidden[:, -1],  # the top layer's final state: Sutskever's and Cho's context
        }
        if cell is not None:
            init_cell = cell[:, layers]
            enc["init_cell"] = self.cell_proj(init_cell) if self.cell_proj is not None else init_cell
        if self.attention is not None:
            enc["keys"] = self.attention.precompute(outputs)
        return enc

    # --- decoder ---------------------------------------------------------------------
    # Inside a pass the state is a _Recurrence (per-layer lists, no stacking per step);
    # between generation steps it is a dict of batch-first tensors, which search reorders.

    def _initial_state(self, enc: EncoderOut) -> _Recurrence:
        hidden = enc["init_hidden"]
        feed = None
        if self.config.attention == "luong" and self.config.input_feeding:
            feed = hidden.new_zeros(hidden.size(0), self.config.decoder_hidden_size)
        cell = list(enc["init_cell"].unbind(1)) if "init_cell" in enc else None
        return _Recurrence(list(hidden.unbind(1)), cell, feed)

    def _attend(self, query: torch.Tensor, enc: EncoderOut, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.attention(query, enc["keys"], enc["encoder_out"], enc["valid"], enc["lengths"], step)

    def _step(
        self, gates_in: torch.Tensor, embedded: torch.Tensor, enc: EncoderOut, state: _Recurrence, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, _Recurrence]:
        """One target position: (features (B, D_out), attention (B, S) or None, new state)."""
        c = self.config
        attn = None
        if c.attention == "bahdanau":
            context, attn = self._attend(state.hidden[-1], enc, step)  # scored from the previous state s_{t-1}
            extra = context
        elif c.attention == "luong":
            extra = state.feed
        else:
            context = enc["context"]
            extra = context if c.context_every_step else None
        hidden, cell = self.cells.step(gates_in, extra, state.hidden, state.cell)
        top, feed = hidden[-1], None
        if c.attention == "luong":
            context, attn = self._attend(top, enc, step)  # scored from the current state h_t
            out = torch.tanh(self.combine(torch.cat([context.to(top.dtype), top], dim=1)))
            out = fast_dropout(out, c.decoder_dropout_out, self.training)
            feed = out if c.input_feeding else None
        elif self.deep_output is not None:
            deep_in = torch.cat([top, context.to(top.dtype), embedded.to(top.dtype)], dim=1)
            out = fast_dropout(torch.tanh(self.deep_output(deep_in)), c.decoder_dropout_out, self.training)
        else:
            out = fast_dropout(top, c.decoder_dropout_out, self.training)
        if self.out_proj is not None:
            out = self.out_proj(out)
        return out, attn, _Recurrence(hidden, cell, feed)

    def _embed_target(self, tokens: torch.Tensor) -> torch.Tensor:
        return fast_dropout(self.decoder_embed(tokens), self.config.decoder_dropout_in, self.training)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        enc = self.encode(src_tokens, src_lengths, src_lang)
        embedded = self._embed_target(prev_output_tokens)  # (B, T, E_dec)
        gates_in = self.cells.embed_gates(embedded)  # all steps' embedding share in one matmul
        state = self._initial_state(enc)
        features, attns = [], []
        for t in range(prev_output_tokens.size(1)):
            out, attn, state = self._step(gates_in[:, t], embedded[:, t], enc, state, t)
            features.append(out)
            if attn is not None:
                attns.append(attn)
        return torch.stack(features, 1), torch.stack(attns, 1) if attns else None

    def decode_features(
        self,
        prev_tokens: torch.Tensor,
        encoder_out: EncoderOut,
        state: DecoderState | None,
        need_attn: bool = True,
        tgt_lang: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, DecoderState]:
        recurrence = self._initial_state(encoder_out) if state is None else _Recurrence.from_dict(state)
        embedded = self._embed_target(prev_tokens[:, -1])
        out, attn, recurrence = self._step(
            self.cells.embed_gates(embedded), embedded, encoder_out, recurrence, prev_tokens.size(1) - 1
        )
        return out, attn, recurrence.to_dict()


class _Recurrence(NamedTuple):
    hidden: list[torch.Tensor]  # per layer (B, H)
    cell: list[torch.Tensor] | None  # per layer (B, H), LSTM only
    feed: torch.Tensor | None  # (B, H): Luong input feeding

    def to_dict(self) -> DecoderState:
        state: DecoderState = {"hidden": torch.stack(self.hidden, 1)}
        if self.cell is not None:
            state["cell"] = torch.stack(self.cell, 1)
        if self.feed is not None:
            state["feed"] = self.feed
        return state

    @staticmethod
    def from_dict(state: DecoderState) -> _Recurrence:
        cell = list(state["cell"].unbind(1)) if "cell" in state else None
        return _Recurrence(list(state["hidden"].unbind(1)), cell, state.get("feed"))


# --- presets: pure functions returning a config ----------------------------------------


@ARCHITECTURES.register_preset("lstm", base="rnn")
def lstm() -> RNNConfig:
    """fairseq's `lstm`: 1-layer LSTMs of 512, Luong general attention with input feeding, dropout 0.1."""
    return RNNConfig()


@ARCHITECTURES.register_preset("lstm_luong_wmt_en_de", base="rnn")
def lstm_luong_wmt_en_de() -> RNNConfig:
    """Luong et al. 2015: 4-layer LSTMs of 1000 units, source reversed, global general attention,
    input feeding, dropout 0.2."""
    return RNNConfig(
        reverse_source=True,
        encoder_embed_dim=1000,
        encoder_hidden_size=1000,
        encoder_layers=4,
        decoder_embed_dim=1000,
        decoder_hidden_size=1000,
        decoder_layers=4,
        decoder_out_embed_dim=1000,
        encoder_dropout_in=0.2,
        encoder_dropout_out=0.2,
        decoder_dropout_in=0.2,
        decoder_dropout_out=0.2,
    )


@ARCHITECTURES.register_preset("lstm_local_p", base="rnn")
def lstm_local_p() -> RNNConfig:
    """Luong et al. 2015's local-p attention (D = 10, general score) on the `lstm` preset's CPU-sized
    network; the paper's best single model used it on the 4-layer 1000-unit stack, reversed source."""
    return RNNConfig(attention_window="local-p", local_window_size=10)


@ARCHITECTURES.register_preset("gru_bahdanau", base="rnn")
def gru_bahdanau() -> RNNConfig:
    """Bahdanau et al. 2014 (RNNsearch): bidirectional GRU encoder, additive attention, deep output."""
    return RNNConfig(
        rnn_type="gru",
        encoder_bidirectional=True,
        attention="bahdanau",
        encoder_dropout_out=0.2,
        decoder_dropout_out=0.2,
    )


@ARCHITECTURES.register_preset("seq2seq_sutskever", base="rnn")
def seq2seq_sutskever() -> RNNConfig:
    """Sutskever et al. 2014: deep (4-layer) LSTMs, no attention, the source read in reverse."""
    return RNNConfig(
        encoder_layers=4,
        decoder_layers=4,
        attention="none",
        reverse_source=True,
        encoder_dropout_out=0.2,
        decoder_dropout_out=0.2,
    )


@ARCHITECTURES.register_preset("gru_cho", base="rnn")
def gru_cho() -> RNNConfig:
    """Cho et al. 2014 (RNN encoder-decoder): GRUs, no attention, the summary context fed to every step."""
    return RNNConfig(rnn_type="gru", attention="none", context_every_step=True)
