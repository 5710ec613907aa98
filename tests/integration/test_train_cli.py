"""`nmt train` end to end on generated copy/reverse data: learning, exact resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import REPO, nmt, nmt_in_process
from tests.helpers.synthetic import TINY_MODEL_FLAGS, make_task_dir


def train_log(save_dir: Path) -> dict[int, float]:
    """update number -> training loss, the last record winning (a resumed run rewrites later updates)."""
    losses = {}
    for line in (save_dir / "train_log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "train":
            losses[record["update"]] = record["loss"]
    return losses


def base_args(data: Path, save_dir: Path, *extra: str) -> list[str]:
    return [
        "train",
        str(data),
        "--arch",
        "transformer_tiny",
        *TINY_MODEL_FLAGS,
        "--lr",
        "0.003",
        "--warmup-updates",
        "50",
        "--max-tokens",
        "512",
        "--save-dir",
        str(save_dir),
        "--log-interval",
        "1",
        "--log-format",
        "simple",
        "--seed",
        "7",
        *extra,
    ]


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("reverse") / "data", "reverse", n_train=2000, n_valid=100)


def test_tiny_transformer_learns_to_reverse(reverse_data, tmp_path):
    # Budget: 300 updates (about 10 CPU-seconds on 2 cores); valid loss below 0.3 bits per token.
    result = nmt(
        *base_args(
            reverse_data,
            tmp_path,
            "--dropout",
            "0",
            "--label-smoothing",
            "0",
            "--max-tokens",
            "1024",
            "--max-update",
            "300",
            "--criterion",
            "label_smoothed_cross_entropy",
        )
    )
    assert result.returncode == 0, result.stderr
    valid = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    best = min(r["loss"] for r in valid if r["type"] == "valid")
    assert best < 0.3, f"reverse task not learned: best valid loss {best:.3f} bits"
    assert "best checkpoint: " in result.stdout and (tmp_path / "checkpoint_best.pt").exists()


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(reverse_data, tmp_path):
    import shutil

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = ("--max-update", "30", "--dropout", "0.1", "--save-interval-updates", "5")
    assert nmt(*base_args(reverse_data, straight, *args)).returncode == 0
    first = nmt(
        *base_args(reverse_data, resumed, "--max-update", "13", "--dropout", "0.1", "--save-interval-updates", "5")
    )
    assert first.returncode == 0, first.stderr
    # A kill -9 at update 13 leaves the mid-epoch checkpoint of update 10 as the last complete one.
    shutil.copyfile(resumed / "checkpoint_1_10.pt", resumed / "checkpoint_last.pt")
    second = nmt(*base_args(reverse_data, resumed, *args))
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout and "update 10" in second.stdout
    a, b = train_log(straight), train_log(resumed)
    assert sorted(a) == sorted(b) == list(range(1, 31))
    for update in range(11, 31):
        assert a[update] == pytest.approx(b[update], rel=1e-5, abs=1e-6), f"update {update} differs after resume"


def test_patience_stops_after_n_validations_without_improvement(reverse_data, tmp_path):
    # Loss falls every epoch here, so "higher is better" never improves after the first validation.
    result = nmt(
        *base_args(reverse_data, tmp_path, "--patience", "2", "--maximize-best-checkpoint-metric", "--max-epoch", "10")
    )
    assert result.returncode == 0, result.stderr
    assert "done (patience)" in result.stdout
    valid = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in valid if r["type"] == "valid"] == [1, 2, 3]


def test_ctrl_c_saves_and_the_rerun_resumes(reverse_data, tmp_path):
    args = base_args(reverse_data, tmp_path, "--max-update", "400", "--dropout", "0.1", "--no-epoch-checkpoints")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "train_log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(train_log(tmp_path)) >= 20):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in out
    interrupted_at = max(train_log(tmp_path))
    rerun = nmt(*base_args(reverse_data, tmp_path, "--max-update", str(interrupted_at + 5), "--dropout", "0.1"))
    assert rerun.returncode == 0, rerun.stderr
    assert f"update {interrupted_at}" in rerun.stdout
    assert max(train_log(tmp_path)) == interrupted_at + 5


def test_help_lists_registered_names_and_user_dir_registers_a_preset(tmp_path):
    plugin = tmp_path / "my_models.py"
    plugin.write_text(
        "from toolkit.registry import ARCHITECTURES\n"
        "from toolkit.models.transformer import TransformerConfig\n"
        "@ARCHITECTURES.register_preset('transformer_pico', base='transformer')\n"
        "def pico():\n    return TransformerConfig(encoder_layers=1, decoder_layers=1, encoder_embed_dim=16,\n"
        "        decoder_embed_dim=16, encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32,\n"
        "        encoder_attention_heads=2, decoder_attention_heads=2)\n"
    )
    plain = nmt("train", "--help")
    assert plain.returncode == 0
    for name in (
        "transformer_small",
        "transformer_tiny",
        "transformer_iwslt_de_en",
        "label_smoothed_cross_entropy",
        "inverse_sqrt",
        "adam",
        "nag",
        "cosine",
    ):
        assert name in plain.stdout
    assert "transformer_pico" not in plain.stdout
    extended = nmt("train", "--help", "--user-dir", str(plugin), "--arch", "transformer_pico")
    assert "transformer_pico" in extended.stdout
    assert "--encoder-embed-dim N" in extended.stdout and "(default: 16)" in extended.stdout


def test_update_freq_2_equals_a_double_batch(reverse_data):
    import torch

    from tests.helpers.training import one_update

    single = one_update(reverse_data, update_freq=1, batches=[list(range(0, 64))])
    accumulated = one_update(reverse_data, update_freq=2, batches=[list(range(0, 32)), list(range(32, 64))])
    for name, param in single.items():
        torch.testing.assert_close(accumulated[name], param, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--arch", "transformer_huge"], "unknown architecture 'transformer_huge'; choose one of:"),
        (["--criterion", "mse"], "unknown criterion 'mse'"),
        (["--update-freq", "0"], "--update-freq must be >= 1"),
        (["--lr", "-1"], "--lr must be positive"),
        (["--max-tokens", "3"], "no training sentence fits --max-tokens 3"),
        (["--bf16", "--fp16"], "contradict"),
        (["--max-update", "abc"], "argument --max-update: 'abc' is not an int"),
        (["--bpe-dropout-per-epoch"], "--bpe-dropout-per-epoch needs data made with nmt preprocess --bpe-dropout"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(reverse_data, tmp_path, extra, message):
    result = nmt(*base_args(reverse_data, tmp_path / "ckpt", "--max-update", "1", *extra))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_data_and_split_and_mismatched_dictionaries(reverse_data, tmp_path):
    missing = nmt(*base_args(tmp_path / "nowhere", tmp_path / "c1", "--max-update", "1"))
    assert missing.returncode == 2 and "data directory not found" in missing.stderr
    partial = make_task_dir(tmp_path / "partial", n_train=10, n_valid=10)
    for suffix in (".src.bin", ".src.idx"):
        os.remove(partial / f"valid.src-tgt{suffix}")
    no_split = nmt(*base_args(partial, tmp_path / "c2", "--max-update", "1"))
    assert no_split.returncode == 2 and "missing split 'valid'" in no_split.stderr
    other = make_task_dir(tmp_path / "other", n_train=10, n_valid=10)
    (other / "dict.tgt.txt").write_text("w0 5\nw1 5\nextra 1\n")
    shared = nmt(*base_args(other, tmp_path / "c3", "--max-update", "1"))
    assert shared.returncode == 2 and "--share-all-embeddings needs one joined dictionary" in shared.stderr


def test_incompatible_checkpoint_in_save_dir_is_refused(reverse_data, tmp_path):
    assert nmt(*base_args(reverse_data, tmp_path, "--max-update", "2")).returncode == 0
    result = nmt(*base_args(reverse_data, tmp_path, "--max-update", "4", "--encoder-layers", "1"))
    assert result.returncode == 2 and "incompatible checkpoint" in result.stderr


def test_bf16_without_native_support_trains_in_fp32_and_records_it(reverse_data, tmp_path, monkeypatch, capsys):
    import torch

    from toolkit import hardware

    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    code, err = nmt_in_process(base_args(reverse_data, tmp_path, "--max-update", "2", "--bf16"), capsys)
    assert code == 0, err
    assert "warning: --bf16 ignored" in err and "(bf16)" not in err
    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert state["config"]["train"]["bf16"] is False  # the checkpoint says how it was really trained
