"""An fp32 model turned into its int8 inference form, from int8 weights and their scales.

What computes in int8 (`Int8Linear`):
  - every `nn.Linear` (the Transformer's attention projections and feed-forward layers; the
    recurrent family's state projections, attention scores, combine/deep-output layers);
  - the recurrent decoder cells' weight matrices (input, hidden and embedding transforms);
  - the vocabulary projection (`output_layer`), tied to the target embeddings or not, or computed
    (ConvS2S's weight-normed projection, quantized from the loaded float weights as it loads).
Every other matrix (embedding tables, learned positions, the recurrent encoder's nn.LSTM/nn.GRU,
ConvS2S's weight-normed linear layers) is stored as int8 too and dequantized at load time: lookups
cost nothing to compute, and the encoder runs once per sentence, not once per hypothesis and step.
Vectors (biases, norms) and convolution kernels (3-D: ConvS2S, ByteNet) stay float32. The search is
unchanged: it sees the model through the same interface.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.models.base import EncoderDecoderModel
from toolkit.modules.dropout import fast_dropout
from toolkit.modules.recurrent_cells import StackedRecurrentCell, _gru_update, _lstm_update
from toolkit.quantize.int8 import Int8Linear, dequantize_rows, quantize_rows


def quantize_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(weights, scales): every 2-D float tensor of a model state as int8 with one scale per row.

    Equal matrices (tied embeddings, which an averaged checkpoint holds as two equal copies) are
    quantized once and share one int8 tensor, so they are saved once. The other tensors are
    returned as they are.
    """
    weights: dict[str, torch.Tensor] = {}
    scales: dict[str, torch.Tensor] = {}
    done: dict[tuple, list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]] = {}
    for key, tensor in state.items():
        if not (torch.is_floating_point(tensor) and tensor.dim() == 2):
            weights[key] = tensor
            continue
        candidates = done.setdefault((tuple(tensor.shape), float(tensor.double().sum())), [])
        same = next((q for t, q in candidates if torch.equal(t, tensor)), None)
        if same is None:
            same = quantize_rows(tensor)
            candidates.append((tensor, same))
        weights[key], scales[key] = same
    return weights, scales


def dequantize_state(weights: dict[str, torch.Tensor], scales: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float state the int8 weights stand for (the model's parameters for everything not int8)."""
    return {key: dequantize_rows(t, scales[key]) if key in scales else t for key, t in weights.items()}


class Int8RecurrentCell(nn.Module):
    """`StackedRecurrentCell` with int8 weight matrices: the same `embed_gates` and `step`, the same equations."""

    def __init__(self, cell: StackedRecurrentCell, prefix: str, weights: dict, scales: dict) -> None:
        super().__init__()
        self.is_lstm, self.dropout = cell.is_lstm, cell.dropout
        self.embed_dim, self.extra_dim, self.hidden_size = cell.embed_dim, cell.extra_dim, cell.hidden_size

        def linear(layer: int, name: str, bias: torch.Tensor | None) -> Int8Linear | None:
            key = f"{prefix}layers.{layer}.{name}"
            return Int8Linear(weights[key], scales[key], bias) if key in weights else None

        self.embed, self.inputs, self.hiddens = None, nn.ModuleList(), nn.ModuleList()
        for i, layer in enumerate(cell.layers):
            if i == 0:
                self.embed = linear(0, "weight_embed", layer.bias_input)
            # Layer 0's input bias is already in its embedding transform.
            self.inputs.append(linear(i, "weight_input", None if i == 0 else layer.bias_input) or nn.Identity())
            self.hiddens.append(linear(i, "weight_hidden", layer.bias_hidden))
        self.has_extra = not isinstance(self.inputs[0], nn.Identity)

    def embed_gates(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.embed(embeddings)

    def step(
        self,
        gates_in: torch.Tensor,
        extra: torch.Tensor | None,
        hidden: list[torch.Tensor],
        cell: list[torch.Tensor] | None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """As StackedRecurrentCell.step: per-layer (B, H) hidden (and cell) states in, the next ones out."""
        new_hidden, new_cell = [], [] if self.is_lstm else None
        layer_input = extra
        for i in range(len(self.hiddens)):
            if i == 0:
                x_gates = gates_in + self.inputs[0](layer_input) if self.has_extra else gates_in
            else:
                x_gates = self.inputs[i](layer_input)
            h_gates = self.hiddens[i](hidden[i])
            if self.is_lstm:
                h, c = _lstm_update(x_gates + h_gates, cell[i])
                new_cell.append(c)
            else:
                h = _gru_update(x_gates, h_gates, hidden[i])
            new_hidden.append(h)
            layer_input = fast_dropout(h, self.dropout, self.training)
        return new_hidden, new_cell


class Int8Model(EncoderDecoderModel):
    """The interface of the model it wraps, with the vocabulary projection in int8."""

    def __init__(self, model: EncoderDecoderModel, output: Int8Linear) -> None:
        super().__init__()
        self.model, self.output = model, output
        self.pad_index, self.eos_index = model.pad_index, model.eos_index

    @property
    def config(self) -> Any:
        return self.model.config

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def output_layer(self, features: torch.Tensor) -> torch.Tensor:
        return self.output(features)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.output.dequantized_weight()

    @property
    def output_bias(self) -> torch.Tensor | None:
        return self.output.bias

    def encode(self, *args, **kwargs):
        return self.model.encode(*args, **kwargs)

    def decode_features(self, *args, **kwargs):
        return self.model.decode_features(*args, **kwargs)

    def reorder_encoder_out(self, encoder_out, order):
        return self.model.reorder_encoder_out(encoder_out, order)

    def reorder_state(self, state, order):
        return self.model.reorder_state(state, order)

    def max_positions(self) -> tuple[int, int]:
        return self.model.max_positions()


def int8_model(model: EncoderDecoderModel, weights: dict, scales: dict) -> Int8Model:
    """`model` (built from its config) as an int8 inference model holding `weights` and `scales`.

    The model first receives the dequantized state, so whatever stays float (embeddings, the
    recurrent encoder) is exactly what the int8 checkpoint stores; then its linear layers, its
    recurrent cells and its vocabulary projection are replaced by int8 ones.
    """
    model.load_state_dict(dequantize_state(weights, scales))
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    output_key = names.get(id(model.output_weight))
    if output_key in scales:
        output = Int8Linear(weights[output_key], scales[output_key], model.output_bias)
    else:  # a projection computed from parameters (ConvS2S's weight norm): quantized from what was just loaded
        output = Int8Linear(*quantize_rows(model.output_weight.detach().float()), model.output_bias)
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            replacement: nn.Module = Int8Linear(weights[f"{name}.weight"], scales[f"{name}.weight"], module.bias)
        elif isinstance(module, StackedRecurrentCell):
            replacement = Int8RecurrentCell(module, f"{name}.", weights, scales)
        else:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, replacement)
    return Int8Model(model, output).eval()


def quantize_model(model: EncoderDecoderModel) -> Int8Model:
    """An fp32 model's int8 form, as if its checkpoint had been quantized by `nmt quantize`."""
    weights, scales = quantize_state(model.state_dict())
    return int8_model(model, weights, scales)
