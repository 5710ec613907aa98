"""Loss-weight schedules in XLM's syntax: piecewise linear in the update number."""

from __future__ import annotations

import pytest

from toolkit.train.weight_schedule import WeightSchedule


def test_a_number_is_constant():
    schedule = WeightSchedule.parse("0.25")
    assert [schedule(u) for u in (0, 1, 10**6)] == [0.25, 0.25, 0.25]


def test_piecewise_linear_between_points_and_flat_outside():
    schedule = WeightSchedule.parse("0:1,100000:0.1,300000:0")
    assert schedule(0) == 1.0
    assert schedule(50_000) == pytest.approx(0.55)  # halfway from 1 to 0.1
    assert schedule(100_000) == pytest.approx(0.1)
    assert schedule(200_000) == pytest.approx(0.05)
    assert schedule(300_000) == 0.0 and schedule(10**7) == 0.0
    late = WeightSchedule.parse("1000:0,2000:1")
    assert late(0) == 0.0 and late(1500) == pytest.approx(0.5) and late(5000) == 1.0
    assert WeightSchedule.parse("0:0,10:0").always_zero


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "is not a weight or a schedule"),
        ("0:1,x:2", "is not a weight or a schedule"),
        ("10:1,5:0", "strictly increasing"),
        ("0:-1", "must be a finite number >= 0"),
        ("-1", "is not a weight or a schedule"),
    ],
)
def test_bad_schedules_name_the_flag(text, message):
    with pytest.raises(ValueError, match=message) as error:
        WeightSchedule.parse(text, "--lambda-ae")
    assert "--lambda-ae" in str(error.value)
