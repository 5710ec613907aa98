"""Checkpoint averaging on small synthetic checkpoints."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import nmt_captured
from toolkit.errors import UserError
from toolkit.train.average import (
    average_checkpoints,
    average_model_states,
    last_epoch_checkpoints,
    last_update_checkpoints,
)
from toolkit.train.checkpoint import load_checkpoint, save_checkpoint

CONFIG = {"model": {"arch": "toy", "family": "toy", "params": {"dim": 4}}}


def make_state(seed: int, config=CONFIG, shape=(3, 4), target_symbol: str = "b") -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "config": config,
        "dictionaries": {"src": {"symbols": ["a"]}, "tgt": {"symbols": [target_symbol]}},
        "text_processors": None,
        "model": {
            "w": torch.randn(shape, generator=gen),
            "half": torch.randn(5, generator=gen).to(torch.bfloat16),
            "steps": torch.tensor([seed]),
        },
        "optimizer": {"state": {}},
        "trainer_state": {"epoch": seed},
    }


def write(tmp_path, name, state):
    save_checkpoint(state, tmp_path / name)
    return tmp_path / name


def test_average_of_three(tmp_path):
    states = [make_state(s) for s in (1, 2, 3)]
    paths = [write(tmp_path, f"checkpoint{s}.pt", st) for s, st in zip((1, 2, 3), states, strict=True)]
    avg = average_checkpoints(paths)
    expected = (
        states[0]["model"]["w"].double() + states[1]["model"]["w"].double() + states[2]["model"]["w"].double()
    ) / 3
    torch.testing.assert_close(avg["model"]["w"], expected.float())
    assert avg["model"]["half"].dtype == torch.bfloat16
    assert avg["model"]["steps"].tolist() == [3]  # integer buffers from the last
    assert avg["dictionaries"] == states[-1]["dictionaries"]
    assert "optimizer" not in avg and "trainer_state" not in avg
    in_memory = average_model_states([s["model"] for s in states])
    for key in in_memory:
        torch.testing.assert_close(in_memory[key], avg["model"][key])


def test_average_of_identical_checkpoints_is_identical(tmp_path):
    state = make_state(7)
    paths = [write(tmp_path, f"c{i}.pt", state) for i in range(3)]
    avg = average_checkpoints(paths)
    for key, tensor in state["model"].items():
        assert torch.equal(avg["model"][key], tensor)


def test_selection_by_epoch_and_update(tmp_path):
    for epoch in (1, 2, 10, 9):
        write(tmp_path, f"checkpoint{epoch}.pt", make_state(epoch))
    for epoch, update in ((1, 100), (2, 50), (3, 1000), (3, 999)):
        write(tmp_path, f"checkpoint_{epoch}_{update}.pt", make_state(update))
    write(tmp_path, "checkpoint_best.pt", make_state(0))
    assert [p.name for p in last_epoch_checkpoints(tmp_path, 3)] == [
        "checkpoint2.pt",
        "checkpoint9.pt",
        "checkpoint10.pt",
    ]
    assert [p.name for p in last_update_checkpoints(tmp_path, 2)] == ["checkpoint_3_999.pt", "checkpoint_3_1000.pt"]
    with pytest.raises(UserError, match="asked to average 5"):
        last_epoch_checkpoints(tmp_path, 5)


def test_different_architectures_are_refused(tmp_path):
    a = write(tmp_path, "a.pt", make_state(1))
    b = write(tmp_path, "b.pt", make_state(2, config={"model": {"arch": "toy", "family": "toy", "params": {"dim": 8}}}))
    c = write(tmp_path, "c.pt", make_state(3, shape=(4, 4)))
    with pytest.raises(UserError, match="different model configurations"):
        average_checkpoints([a, b])
    with pytest.raises(UserError, match="shape"):
        average_checkpoints([a, c])
    d = write(tmp_path, "d.pt", make_state(4, target_symbol="other"))
    with pytest.raises(UserError, match="different dictionaries"):
        average_checkpoints([a, d])


def test_cli(tmp_path):
    for epoch in (1, 2, 3):
        write(tmp_path, f"checkpoint{epoch}.pt", make_state(epoch))
    out = tmp_path / "avg.pt"
    code, output = nmt_captured(
        "average-checkpoints", "--inputs", str(tmp_path), "--num-epoch-checkpoints", "2", "--output", str(out)
    )
    assert code == 0, output
    avg = load_checkpoint(out)
    assert avg["averaged_from"][-1].endswith("checkpoint3.pt") and len(avg["averaged_from"]) == 2
    files = [str(tmp_path / f"checkpoint{e}.pt") for e in (1, 2, 3)]
    code, output = nmt_captured("average-checkpoints", "--inputs", *files, "--output", str(tmp_path / "all.pt"))
    assert code == 0, output
    assert len(load_checkpoint(tmp_path / "all.pt")["averaged_from"]) == 3


def test_cli_bad_input_writes_nothing(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    write(tmp_path, "good.pt", make_state(1))
    out = tmp_path / "avg.pt"
    code, output = nmt_captured(
        "average-checkpoints", "--inputs", str(tmp_path / "good.pt"), str(tmp_path / "bad.pt"), "--output", str(out)
    )
    assert code == 2 and output.startswith("nmt: error: ") and "bad.pt" in output and output.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".avg.pt*"))
    code, output = nmt_captured("average-checkpoints", "--inputs", str(tmp_path), "--output", str(out))
    assert code == 2 and "--num-epoch-checkpoints" in output
