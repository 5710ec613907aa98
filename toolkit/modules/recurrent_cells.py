"""A stack of LSTM or GRU cells stepped one target position at a time.

Decoders with attention must run step by step (each step's input depends on the previous
step's attention output), so this is the hot loop of the recurrent family. Two things keep
it fast: the embedding's share of the first layer's input transform is one matmul over all
target positions (`embed_gates`), and each step is plain tensor arithmetic on weights stored
split by what they multiply (together exactly `nn.LSTMCell`'s/`nn.GRUCell`'s parameters and
equations, so parameter counts match the usual implementations).

Shapes: B batch, T steps, E embedding dim, X extra input dim, H hidden size, L layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from toolkit.modules.dropout import fast_dropout

RNN_TYPES = ("lstm", "gru")


class CellWeights(nn.Module):
    """One layer's parameters, split by what they multiply, so no step slices or copies a weight.

    Together they are exactly nn.LSTMCell's (or nn.GRUCell's) W_ih = [embed | input], W_hh,
    b_ih, b_hh: the same parameter count and the same equations.
    """

    def __init__(self, gates: int, embed_dim: int, input_dim: int, hidden_size: int) -> None:
        super().__init__()
        rows = gates * hidden_size
        self.weight_embed = nn.Parameter(torch.empty(rows, embed_dim)) if embed_dim else None
        self.weight_input = nn.Parameter(torch.empty(rows, input_dim)) if input_dim else None
        self.weight_hidden = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_input = nn.Parameter(torch.zeros(rows))
        self.bias_hidden = nn.Parameter(torch.zeros(rows))
        bound = hidden_size**-0.5  # nn.LSTMCell's default initialisation
        for weight in (self.weight_embed, self.weight_input, self.weight_hidden):
            if weight is not None:
                nn.init.uniform_(weight, -bound, bound)


class StackedRecurrentCell(nn.Module):
    """L cells; layer 0 reads [embedding; extra], layer i > 0 reads layer i-1's (dropped-out) output."""

    def __init__(
        self, rnn_type: str, embed_dim: int, extra_dim: int, hidden_size: int, layers: int, dropout: float
    ) -> None:
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"--rnn-type must be one of {', '.join(RNN_TYPES)}, got {rnn_type!r}")
        self.is_lstm = rnn_type == "lstm"
        gates = 4 if self.is_lstm else 3
        self.embed_dim, self.extra_dim, self.hidden_size = embed_dim, extra_dim, hidden_size
        self.dropout = dropout
        self.layers = nn.ModuleList(
            CellWeights(gates, embed_dim, extra_dim, hidden_size)
            if i == 0
            else CellWeights(gates, 0, hidden_size, hidden_size)
            for i in range(layers)
        )

    def embed_gates(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(..., E) -> (..., G*H): layer 0's input transform of the embeddings, with its input bias."""
        first = self.layers[0]
        return F.linear(embeddings, first.weight_embed, first.bias_input)

    def step(
        self,
        gates_in: torch.Tensor,
        extra: torch.Tensor | None,
        hidden: list[torch.Tensor],
        cell: list[torch.Tensor] | None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """One time step: gates_in (B, G*H) from `embed_gates`, extra (B, X) or None,
        hidden/cell: per layer (B, H). Returns the new per-layer hidden and cell states."""
        new_hidden, new_cell = [], [] if self.is_lstm else None
        layer_input = extra
        for i, weights in enumerate(self.layers):
            if i == 0:
                x_gates = gates_in
                if weights.weight_input is not None:
                    x_gates = x_gates + F.linear(layer_input, weights.weight_input)
            else:
                x_gates = F.linear(layer_input, weights.weight_input, weights.bias_input)
            h_gates = F.linear(hidden[i], weights.weight_hidden, weights.bias_hidden)
            if self.is_lstm:
                h, c = _lstm_update(x_gates + h_gates, cell[i])
                new_cell.append(c)
            else:
                h = _gru_update(x_gates, h_gates, hidden[i])
            new_hidden.append(h)
            layer_input = fast_dropout(h, self.dropout, self.training)
        return new_hidden, new_cell


def _lstm_update(gates: torch.Tensor, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTMCell's equations (gate order i, f, g, o); the cell state stays in float32 under autocast."""
    i, f, g, o = gates.float().chunk(4, dim=1)
    cell = torch.sigmoid(f) * cell.float() + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def _gru_update(x_gates: torch.Tensor, h_gates: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """nn.GRUCell's equations (gate order r, z, n): the reset gate scales the hidden part of n."""
    x_r, x_z, x_n = x_gates.float().chunk(3, dim=1)
    h_r, h_z, h_n = h_gates.float().chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (hidden.float() - n)
