"""Each ByteNet preset learns to reverse short sequences through `nmt train`, within a stated budget,
and `nmt generate` (the shared beam search) then reverses held-out sentences with it.

ByteNet has no attention: target position t reads source column t, so reversing means routing
source token |s| - 2 - t to column t through the dilated convolutions. At the test size (d = 32,
5 + 5 blocks: one cycle of dilations 1, 2, 4, 8, 16, kernels 3) every column's source reach is 31
positions each side, far more than the whole source, so each column can see every token. That
routing is harder for convolutions than for attention or a recurrent state: sources of up to 5
tokens (6 with EOS) are learnt in 400 updates of 512 tokens; sources of 6 tokens take well over 800
updates of 1024.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import nmt_in_process
from tests.helpers.learning import assert_learns_to_reverse
from tests.helpers.synthetic import make_task_dir

# The presets' structure (dilations 1..16, kernels 3, unfolding, tying) at a test size.
SMALL_BYTENET_FLAGS = ["--model-dim", "32", "--source-blocks", "5", "--target-blocks", "5"]

# preset -> (updates, bits per token the best validation loss must beat, share of the 100 held-out
# sentences that greedy decoding must reverse exactly). Measured at seed 1: 0.31 bits and 70% for
# bytenet, 0.28 bits and 75% for bytenet_small (tied output embeddings, b = 2); about 30 CPU-seconds
# each, training and generation, on a busy 2-core machine.
BUDGETS = {"bytenet": (400, 0.5, 0.5), "bytenet_small": (400, 0.5, 0.5)}


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100, max_len=5)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BUDGETS))
def test_preset_learns_to_reverse(preset, reverse_data, tmp_path):
    flags = [*SMALL_BYTENET_FLAGS, "--dropout", "0", "--clip-norm", "1", "--max-tokens", "512"]
    # ByteNet has no attention, so `--print-alignment` prints no A- lines.
    assert_learns_to_reverse(reverse_data, tmp_path, preset, flags, BUDGETS[preset], alignments=False)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max-dilation", "12"], "--max-dilation must be a power of 2"),
        (["--source-kernel-size", "4"], "--source-kernel-size must be odd"),
        (["--unfold-a", "0"], "--unfold-a and --unfold-b must be at least 0, not both 0"),
    ],
)
def test_bad_config_is_one_line_and_exit_code_2(reverse_data, tmp_path, extra, message, capsys):
    argv = ["train", str(reverse_data), "--arch", "bytenet", *SMALL_BYTENET_FLAGS, "--max-update", "1"]
    code, err = nmt_in_process([*argv, "--save-dir", str(tmp_path), *extra], capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
