"""Learning-rate schedules and token-budget batching."""

import math

import numpy as np
import torch

from toolkit.data.batching import plan_batches
from toolkit.optim.lr_schedulers import (
    CosineConfig,
    CosineSchedule,
    InverseSqrtConfig,
    InverseSqrtSchedule,
    ReduceOnPlateauConfig,
    ReduceOnPlateauSchedule,
)


def _optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def test_inverse_sqrt_warms_up_linearly_then_decays():
    s = InverseSqrtSchedule(InverseSqrtConfig(warmup_updates=100, warmup_init_lr=0.0), _optimizer(), 0.01)
    assert math.isclose(s.step_update(50), 0.005)
    assert math.isclose(s.step_update(100), 0.01)
    assert math.isclose(s.step_update(400), 0.01 * math.sqrt(100 / 400))
    assert s.optimizer.param_groups[0]["lr"] == s.lr


def test_cosine_reaches_min_lr():
    s = CosineSchedule(CosineConfig(min_lr=0.001, period_updates=100), _optimizer(), 0.1)
    assert math.isclose(s.step_update(0), 0.1)
    assert math.isclose(s.step_update(50), 0.001 + 0.5 * 0.099)
    assert math.isclose(s.step_update(500), 0.001)


def test_reduce_on_plateau_shrinks_after_patience():
    s = ReduceOnPlateauSchedule(ReduceOnPlateauConfig(lr_shrink=0.5, lr_patience=1), _optimizer(), 1.0)
    assert s.step_epoch(1, 3.0) == 1.0
    assert s.step_epoch(2, 3.5) == 1.0
    assert s.step_epoch(3, 3.5) == 0.5
    restored = ReduceOnPlateauSchedule(ReduceOnPlateauConfig(lr_shrink=0.5, lr_patience=1), _optimizer(), 1.0)
    restored.load_state_dict(s.state_dict())
    assert restored.lr == 0.5 and restored.best == 3.0


def test_batches_respect_the_token_budget_and_cover_every_sentence():
    rng = np.random.RandomState(0)
    src, tgt = rng.randint(1, 50, 1000), rng.randint(1, 50, 1000)
    plan = plan_batches(src, tgt, max_tokens=300, max_sentences=None, seed=3, epoch=2)
    assert plan.skipped == 0
    assert sorted(np.concatenate(plan.batches).tolist()) == list(range(1000))
    for batch in plan.batches:
        assert len(batch) * max(src[batch].max(), tgt[batch].max()) <= 300
    again = plan_batches(src, tgt, max_tokens=300, max_sentences=None, seed=3, epoch=2)
    assert all(np.array_equal(a, b) for a, b in zip(plan.batches, again.batches, strict=True)), (
        "an epoch's order must be reproducible"
    )
    other = plan_batches(src, tgt, max_tokens=300, max_sentences=None, seed=3, epoch=3)
    assert [b.tolist() for b in plan.batches] != [b.tolist() for b in other.batches], "epochs are shuffled differently"


def test_too_long_sentences_are_skipped_and_counted():
    plan = plan_batches(np.array([5, 500, 7]), np.array([5, 6, 700]), max_tokens=100, max_sentences=2)
    assert plan.skipped == 2
    assert np.concatenate(plan.batches).tolist() == [0]


def test_fixed_schedule_shrinks_once_after_every_epoch():
    from toolkit.optim.lr_schedulers import FixedConfig, FixedSchedule

    schedule = FixedSchedule(FixedConfig(lr_shrink=0.5), _optimizer(), 1.0)
    rates = [schedule.lr]
    for epoch in (1, 2, 3):
        rates.append(schedule.step_epoch(epoch, None))
    assert rates == [1.0, 0.5, 0.25, 0.125]  # epoch n trains at lr * shrink ** (n - 1)
