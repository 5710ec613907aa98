"""Every recurrent preset learns to reverse short sequences through `nmt train`, within a stated budget,
and `nmt generate` (the shared beam search) then reverses held-out sentences with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.learning import assert_learns_to_reverse
from tests.helpers.synthetic import make_task_dir

# The presets' structure (cell type, directions, attention) at a test size: width 64, at most 2 layers.
SMALL_RNN_FLAGS = [
    "--encoder-embed-dim", "32", "--decoder-embed-dim", "32", "--decoder-out-embed-dim", "32",
    "--encoder-hidden-size", "64", "--decoder-hidden-size", "64",
]  # fmt: skip

DEEP = {"lstm_luong_wmt_en_de", "seq2seq_sutskever"}  # 4 layers in the preset
NO_ATTENTION = {"seq2seq_sutskever", "gru_cho"}

# preset -> (updates, bits per token the best validation loss must beat, share of the 100 held-out
# sentences that greedy decoding must reverse exactly)
BUDGETS = {
    "lstm": (400, 0.3, 0.9),
    "lstm_local_p": (400, 0.3, 0.75),  # a window of 5 of at most 7 positions must first find its centre
    "gru_bahdanau": (400, 0.3, 0.9),
    # These two read the source backwards: the first output is then the oldest input, the hardest
    # case for this task (with the source read forwards the Luong stack gets below 0.3 bits in 500).
    "lstm_luong_wmt_en_de": (1600, 0.7, 0.5),
    "seq2seq_sutskever": (1600, 0.7, 0.5),  # and no attention
    "gru_cho": (800, 0.5, 0.5),
}
# Sources have at most 7 tokens: a window of half-width 2 (not the preset's 10) really is local.
EXTRA_FLAGS = {"lstm_local_p": ["--local-window-size", "2"]}
NO_DROPOUT = [
    "--encoder-dropout-in", "0", "--encoder-dropout-out", "0",
    "--decoder-dropout-in", "0", "--decoder-dropout-out", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100, max_len=6)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BUDGETS))
def test_preset_learns_to_reverse(preset, reverse_data, tmp_path):
    layers = ["--encoder-layers", "2", "--decoder-layers", "2"] if preset in DEEP else []
    flags = [*SMALL_RNN_FLAGS, *layers, *EXTRA_FLAGS.get(preset, []), *NO_DROPOUT, "--max-tokens", "1024"]
    budget = BUDGETS[preset]
    assert_learns_to_reverse(reverse_data, tmp_path, preset, flags, budget, alignments=preset not in NO_ATTENTION)
