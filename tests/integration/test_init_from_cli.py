"""`nmt train --init-from`: a fresh run starts from matching weights, says what it left, and yields to resume."""

from __future__ import annotations

import torch

from tests.helpers.cli import nmt_captured
from tests.helpers.pipeline import tiny_data

TINY = ["--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "16",
        "--decoder-embed-dim", "16", "--encoder-ffn-embed-dim", "32", "--decoder-ffn-embed-dim", "32",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2", "--log-format", "simple"]  # fmt: skip


def test_init_from_loads_what_matches_reports_the_rest_and_yields_to_resume(tmp_path):
    data = tiny_data(tmp_path)
    code, output = nmt_captured("train", str(data), *TINY, "--max-update", "3", "--save-dir", str(tmp_path / "a"))
    assert code == 0, output
    pretrained = tmp_path / "a" / "checkpoint_last.pt"
    wider = [*TINY, "--decoder-ffn-embed-dim", "48"]  # the decoder's feed-forward layers no longer fit
    args = ["train", str(data), *wider, "--init-from", str(pretrained), "--max-update", "1", "--lr", "1e-9",
            "--save-dir", str(tmp_path / "b")]  # fmt: skip
    code, output = nmt_captured(*args)
    assert code == 0, output
    line = next(x for x in output.splitlines() if x.startswith("init-from"))
    assert "loaded 31 tensors" in line and "3 shape mismatches (decoder_layers.*.ffn.*)" in line, line
    before = torch.load(pretrained, weights_only=True)["model"]
    after = torch.load(tmp_path / "b" / "checkpoint_last.pt", weights_only=True)["model"]
    same = [n for n in after if after[n].shape == before[n].shape]
    assert len(same) == 31 and all(torch.allclose(after[n], before[n], atol=1e-6) for n in same)  # lr 1e-9
    code, output = nmt_captured(*args[:-4], "--max-update", "2", "--save-dir", str(tmp_path / "b"))
    assert code == 0 and "resumed from" in output and "init-from" not in output, output

    code, output = nmt_captured("train", str(data), "--arch", "lstm", "--init-from", str(pretrained),
                                "--save-dir", str(tmp_path / "c"), "--max-update", "1")  # fmt: skip
    assert code == 2 and "no tensor of the model is in the checkpoint" in output and output.count("\n") == 1, output
