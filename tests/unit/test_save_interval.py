"""--save-interval N: an epoch checkpoint every N epochs, checkpoint_last.pt after every one."""

from __future__ import annotations

from tests.helpers.synthetic import make_task_dir
from tests.helpers.training import tiny_setup
from toolkit.train.checkpoint import load_checkpoint
from toolkit.train.loop import train


def test_save_interval_two_keeps_only_even_epochs(tmp_path):
    data = make_task_dir(tmp_path / "data", n_train=16, n_valid=4)
    save_dir = tmp_path / "ckpt"
    summary = train(tiny_setup(data, save_dir=str(save_dir), max_epoch=3, save_interval=2, log_format="none"))
    assert summary.epoch == 4  # three epochs done
    names = {p.name for p in save_dir.glob("checkpoint*.pt")}
    assert "checkpoint2.pt" in names
    assert "checkpoint1.pt" not in names and "checkpoint3.pt" not in names
    assert "checkpoint_last.pt" in names
    # checkpoint_last.pt is still written after epoch 3 (not only at the saved epochs).
    last = load_checkpoint(save_dir / "checkpoint_last.pt")
    assert last["trainer_state"]["epoch"] == 4
    epoch2 = load_checkpoint(save_dir / "checkpoint2.pt")
    assert epoch2["trainer_state"]["epoch"] == 3
