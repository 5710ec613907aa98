"""Every recurrent preset learns to reverse short sequences through `nmt train`, within a stated budget,
and `nmt generate` (the shared beam search) then reverses held-out sentences with it."""

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


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100, max_len=6)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BUDGETS))
def test_preset_learns_to_reverse(preset, reverse_data, tmp_path):
    updates, threshold, accuracy = BUDGETS[preset]
    layers = ["--encoder-layers", "2", "--decoder-layers", "2"] if preset in DEEP else []
    result = nmt(
        "train", str(reverse_data), "--arch", preset, *SMALL_RNN_FLAGS, *layers, *EXTRA_FLAGS.get(preset, []),
        "--encoder-dropout-in", "0", "--encoder-dropout-out", "0",
        "--decoder-dropout-in", "0", "--decoder-dropout-out", "0",
        "--lr", "0.01", "--warmup-updates", "50", "--max-tokens", "1024", "--max-update", str(updates),
        "--label-smoothing", "0", "--save-dir", str(tmp_path), "--log-format", "simple", "--seed", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    best = min(r["loss"] for r in records if r["type"] == "valid")
    assert best < threshold, f"{preset}: reverse task not learned in {updates} updates, best valid {best:.3f} bits"

    generated = nmt(
        "generate", str(reverse_data), "--path", str(tmp_path / "checkpoint_best.pt"), "--gen-subset", "valid",
        "--beam", "1", "--print-alignment", "--batch-size", "32",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    sources = {line.split("\t")[0][2:]: line.split("\t")[1] for line in lines if line.startswith("S-")}
    hypotheses = {line.split("\t")[0][2:]: line.split("\t")[2] for line in lines if line.startswith("H-")}
    assert len(sources) == len(hypotheses) == 100
    reversed_exactly = sum(hypotheses[i].split() == sources[i].split()[::-1] for i in sources) / len(sources)
    assert reversed_exactly >= accuracy, f"{preset}: greedy decoding reverses only {reversed_exactly:.0%}"
    alignments = [line for line in lines if line.startswith("A-")]
    assert len(alignments) == (0 if preset in NO_ATTENTION else 100)
