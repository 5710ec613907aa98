"""The task seam refactor changes no result: the recorded run's losses and parameters are reproduced."""

from __future__ import annotations

import json

import pytest

from tests.helpers.trajectory import FIXTURE, UPDATES, run_trajectory

# Recorded on one machine, checked on others whose vector units (AVX2, AVX-512) may round differently.
RTOL = 1e-4
# Attention key biases get only rounding-noise gradients (softmax ignores a shift shared by all keys), which
# Adam scales up to real steps, so their sums differ by vector unit: only their norms are compared.
KEY_BIASES = ("qkv_proj.bias", "kv_proj.bias", "k_proj.bias")


def test_translation_training_reproduces_the_recorded_trajectory(tmp_path):
    expected = json.loads(FIXTURE.read_text())
    got = run_trajectory(tmp_path)
    assert len(got["train_loss"]) == UPDATES
    assert got["train_loss"] == pytest.approx(expected["train_loss"], rel=RTOL)
    assert got["valid_loss"] == pytest.approx(expected["valid_loss"], rel=RTOL)
    assert sorted(got["parameters"]) == sorted(expected["parameters"])
    for name, (total, norm) in expected["parameters"].items():
        assert got["parameters"][name][1] == pytest.approx(norm, rel=RTOL), name
        if name.endswith(KEY_BIASES):
            continue
        assert got["parameters"][name][0] == pytest.approx(total, rel=RTOL, abs=1e-4), name
