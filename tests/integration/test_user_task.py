"""A user's task plugs in through `--user-dir` and the task protocol: its streams are logged, its state resumes."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.helpers.cli import nmt_captured
from tests.helpers.pipeline import tiny_data

PLUGIN = Path(__file__).resolve().parents[1] / "helpers" / "two_stream_task.py"  # imported by nmt only
TINY = ["--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "16",
        "--decoder-embed-dim", "16", "--encoder-ffn-embed-dim", "32", "--decoder-ffn-embed-dim", "32",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2", "--max-tokens", "200"]  # fmt: skip


def total_is_weighted_sum(stats: dict, weight: float) -> bool:
    return abs(stats["loss"] - (stats["loss_forward"] + weight * stats["loss_reversed"])) < 1e-6 * abs(stats["loss"])


def test_a_two_stream_user_task_logs_each_stream_and_resumes_its_state(tmp_path):
    data = tiny_data(tmp_path)
    save = tmp_path / "ckpt"
    common = ["train", str(data), *TINY, "--user-dir", str(PLUGIN), "--task", "two_stream", "--reversed-weight",
              "0.25", "--save-dir", str(save), "--log-interval", "1", "--save-interval-updates", "2"]  # fmt: skip
    code, output = nmt_captured(*common, "--max-update", "4", "--log-format", "simple")
    assert code == 0, output
    assert "loss_forward" in output and "loss_reversed" in output  # the simple log shows the streams
    records = [json.loads(line) for line in (save / "train_log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    assert len(train) == 4 and all(total_is_weighted_sum(r, 0.25) for r in train)
    assert torch.load(save / "checkpoint_last.pt", weights_only=True)["trainer_state"]["task"] == {"steps": 4}
    code, output = nmt_captured(*common, "--max-update", "6", "--log-format", "json")
    assert code == 0, output
    lines = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    assert [r["update"] for r in lines if r.get("type") == "train"] == [5, 6]
    assert all("loss_reversed" in r for r in lines if r.get("type") == "train")
    assert torch.load(save / "checkpoint_last.pt", weights_only=True)["trainer_state"]["task"] == {"steps": 6}


def test_generate_and_translate_use_the_user_task_with_user_dir(tmp_path):
    data = tiny_data(tmp_path)
    save = tmp_path / "ckpt"
    code, output = nmt_captured("train", str(data), *TINY, "--user-dir", str(PLUGIN), "--task", "two_stream",
                                "--save-dir", str(save), "--max-update", "2")  # fmt: skip
    assert code == 0, output
    checkpoint = str(save / "checkpoint_last.pt")
    runs = [nmt_captured("generate", str(data), "--path", checkpoint, "--gen-subset", "valid", *extra)
            for extra in ([], ["--user-dir", str(PLUGIN)])]  # fmt: skip
    assert all(code == 0 for code, _ in runs), runs
    hypotheses = [[x for x in out.splitlines() if x.startswith("H-")] for _, out in runs]
    assert hypotheses[0] == hypotheses[1] and len(hypotheses[0]) == 8  # its data is read as translation reads it
    code, output = nmt_captured("generate", str(data), "--path", checkpoint, "--user-dir", str(tmp_path / "nope.py"))
    assert code == 2 and "--user-dir not found" in output
