"""Every recurrent preset learns to reverse short sequences through `nmt train`, within a stated budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import nmt
from tests.helpers.synthetic import make_task_dir

# The presets' structure (cell type, directions, attention) at a test size: width 64, at most 2 layers.
SMALL_RNN_FLAGS = [
    "--encoder-embed-dim", "32", "--decoder-embed-dim", "32", "--decoder-out-embed-dim", "32",
    "--encoder-hidden-size", "64", "--decoder-hidden-size", "64",
]  # fmt: skip

DEEP = {"lstm_luong_wmt_en_de", "seq2seq_sutskever"}  # 4 layers in the preset

# preset -> (updates, bits per token the best validation loss must beat)
BUDGETS = {
    "lstm": (400, 0.3),
    "lstm_local_p": (400, 0.3),
    "lstm_luong_wmt_en_de": (500, 0.3),
    "gru_bahdanau": (400, 0.3),
    "seq2seq_sutskever": (1600, 0.7),  # no attention, and reading backwards makes the first output the oldest input
    "gru_cho": (800, 0.5),
}


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100, max_len=6)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BUDGETS))
def test_preset_learns_to_reverse(preset, reverse_data, tmp_path):
    updates, threshold = BUDGETS[preset]
    layers = ["--encoder-layers", "2", "--decoder-layers", "2"] if preset in DEEP else []
    result = nmt(
        "train", str(reverse_data), "--arch", preset, *SMALL_RNN_FLAGS, *layers,
        "--encoder-dropout-in", "0", "--encoder-dropout-out", "0",
        "--decoder-dropout-in", "0", "--decoder-dropout-out", "0",
        "--lr", "0.01", "--warmup-updates", "50", "--max-tokens", "1024", "--max-update", str(updates),
        "--label-smoothing", "0", "--save-dir", str(tmp_path), "--log-format", "simple", "--seed", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    best = min(r["loss"] for r in records if r["type"] == "valid")
    assert best < threshold, f"{preset}: reverse task not learned in {updates} updates, best valid {best:.3f} bits"
