"""Every ConvS2S preset learns to reverse short sequences through `nmt train`, within a stated budget,
and `nmt generate` (the shared greedy search, cached convolutions) then reverses held-out sentences
with it, printing alignments from the averaged multi-step attention."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import nmt_captured
from tests.helpers.learning import assert_learns_to_reverse
from tests.helpers.synthetic import make_task_dir

EMBED_FLAGS = ["--encoder-embed-dim", "32", "--decoder-embed-dim", "32", "--decoder-out-embed-dim", "32"]

# Each preset's structure at a test size, on both sides: its kernel widths, and for the WMT presets
# the widening stack ending in 1x1 convolutions (so residual projections are trained too).
TEST_LAYERS = {
    "conv_s2s": "[(64, 3)] * 3",
    "fconv_iwslt_de_en": "[(64, 3)] * 3",
    "fconv_wmt_en_de": "[(48, 3)] * 2 + [(64, 3)] + [(96, 1)]",
    "fconv_wmt_en_fr": "[(48, 3)] * 2 + [(64, 3)] + [(96, 1)] + [(128, 1)]",
}
# preset -> (updates, bits per token the best validation loss must beat, share of the 100 held-out
# sentences greedy decoding must reverse exactly). The presets' own dropout (0.1, conv_s2s 0.2) stays
# on. About 12 updates an epoch; measured: every preset's validation loss is below 0.3 bits by update
# 100 and below 0.05 by 120, and each test (train + generate) costs 20-25 s of one idle core.
BUDGETS = {
    "conv_s2s": (120, 0.3, 0.9),
    "fconv_iwslt_de_en": (120, 0.3, 0.9),
    "fconv_wmt_en_de": (120, 0.3, 0.9),
    "fconv_wmt_en_fr": (120, 0.3, 0.9),
}


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100, max_len=6)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BUDGETS))
def test_preset_learns_to_reverse(preset, reverse_data, tmp_path):
    layers = TEST_LAYERS[preset]
    flags = [*EMBED_FLAGS, "--encoder-layers", layers, "--decoder-layers", layers, "--max-tokens", "1024"]
    assert_learns_to_reverse(reverse_data, tmp_path, preset, flags, BUDGETS[preset], alignments=True, threads=1)


def test_help_shows_the_convolution_options():
    code, output = nmt_captured("train", "--arch", "conv_s2s", "--help")
    assert code == 0
    for flag in ("--encoder-layers SPEC", "--decoder-layers SPEC", "--decoder-attention SPEC",
                 "--decoder-out-embed-dim N", "--share-input-output-embed"):  # fmt: skip
        assert flag in output
    assert "(default: [(256, 3)] * 4)" in output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--encoder-layers", "[(64, 3)] * x"], "--encoder-layers '[(64, 3)] * x' is not a layer spec"),
        (["--decoder-attention", "[True]"], "--decoder-attention '[True]' is not an attention spec"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_code_2(flags, message, reverse_data, tmp_path):
    code, output = nmt_captured(
        "train", str(reverse_data), "--arch", "conv_s2s", *flags, "--max-update", "1", "--save-dir", str(tmp_path)
    )
    assert code == 2, output
    errors = [line for line in output.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in output
