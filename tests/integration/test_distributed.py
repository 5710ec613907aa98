"""Data-parallel training with torchrun on CPU (gloo): N ranks x update-freq k equals one process with N*k."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from tests.helpers.cli import REPO, nmt
from tests.helpers.synthetic import TINY_MODEL_FLAGS, make_task_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch built without gloo"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train_args(data: Path, save_dir: Path, update_freq: int, max_update: int) -> list[str]:
    return [
        "train", str(data), "--arch", "transformer_tiny", *TINY_MODEL_FLAGS, "--dropout", "0",
        "--max-tokens", "256", "--update-freq", str(update_freq), "--max-update", str(max_update),
        "--lr", "0.002", "--warmup-updates", "2", "--seed", "3", "--threads", "1",
        "--save-dir", str(save_dir), "--log-format", "simple", "--log-interval", "1", "--no-epoch-checkpoints",
    ]  # fmt: skip


def _torchrun(ranks: int, args: list[str]):
    import subprocess

    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "cli", *args,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def _weights(save_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(save_dir / "checkpoint_last.pt", weights_only=True)["model"]


def _assert_same_model(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=2e-5, rtol=1e-4, msg=f"{name} differs")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("dist") / "data", "copy", n_train=400, n_valid=40)


@pytest.fixture(scope="module")
def single_process(data, tmp_path_factory) -> Path:
    """The reference: one process with update-freq 2, 4 updates."""
    save_dir = tmp_path_factory.mktemp("single")
    result = nmt(*_train_args(data, save_dir, update_freq=2, max_update=4), threads=1)
    assert result.returncode == 0, result.stderr
    return save_dir


def test_two_ranks_equal_one_process_with_double_update_freq(data, single_process, tmp_path):
    result = _torchrun(2, _train_args(data, tmp_path, update_freq=1, max_update=4))
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_same_model(tmp_path, single_process)
    # Only rank 0 logs: one line per update, not two.
    assert result.stdout.count("[train] epoch 1 | update 4 ") == 1


def test_resume_with_a_different_number_of_ranks(data, single_process, tmp_path):
    first = _torchrun(2, _train_args(data, tmp_path, update_freq=1, max_update=2))
    assert first.returncode == 0, first.stderr[-3000:]
    second = nmt(*_train_args(data, tmp_path, update_freq=2, max_update=4), threads=1)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout
    _assert_same_model(tmp_path, single_process)
