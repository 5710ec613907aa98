"""The Trainer's handling of non-finite losses: skip, count, and stop before a poisoned checkpoint."""

import math

import pytest
import torch

from toolkit.data.collate import collate
from toolkit.optim.lr_schedulers import FixedConfig, FixedSchedule
from toolkit.train.trainer import Trainer, TrainingDiverged


class _Model(torch.nn.Module):
    pad_index = 1

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))


class _Criterion:
    """Loss = sum(weight) * scale, where a scale of nan or inf poisons the update."""

    def __init__(self, scales: list[float]) -> None:
        self.scales = scales

    def __call__(self, model, batch):
        loss = model.weight.sum() * self.scales.pop(0)
        value = float(loss.detach())
        return loss, 1, {"loss": value, "nll_loss": value, "ntokens": 1, "nsentences": 1, "sample_size": 1}


def _trainer(scales: list[float], max_nonfinite: int) -> Trainer:
    model = _Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = FixedSchedule(FixedConfig(), optimizer, 0.1)
    return Trainer(model, _Criterion(scales), optimizer, scheduler, torch.device("cpu"), max_nonfinite=max_nonfinite)


def _batch():
    import numpy as np

    return collate([0], [np.array([5, 2])], [np.array([6, 2])], 1, 2)


def test_a_non_finite_loss_skips_the_update_and_leaves_weights_untouched():
    trainer = _trainer([math.nan, 1.0], max_nonfinite=3)
    result = trainer.train_step([_batch()])
    assert result.skipped and trainer.num_updates == 0
    assert torch.equal(trainer.model.weight.detach(), torch.ones(3))
    result = trainer.train_step([_batch()])
    assert not result.skipped and trainer.num_updates == 1
    torch.testing.assert_close(trainer.model.weight.detach(), torch.full((3,), 0.9))
    assert trainer.nonfinite_in_a_row == 0


def test_repeated_non_finite_losses_stop_training_with_the_update_number():
    trainer = _trainer([1.0, math.inf, math.nan, math.inf], max_nonfinite=3)
    trainer.train_step([_batch()])
    trainer.train_step([_batch()])
    trainer.train_step([_batch()])
    with pytest.raises(TrainingDiverged, match="at update 2.*3 in a row"):
        trainer.train_step([_batch()])
