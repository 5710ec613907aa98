"""The reliability benchmarks in their short form: 4 stops (SIGKILL, a kill inside a checkpoint write,
SIGTERM, Ctrl-C), a preprocess and a generate kill, and 200 hostile inputs.

The long runs (20+ kills, 10,000 inputs) are run by hand; their figures are in the README.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.cli import REPO

pytestmark = pytest.mark.slow


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args], capture_output=True, text=True, env=env,
        timeout=900, check=False,
    )  # fmt: skip


def test_stress_faults_short_run_passes(tmp_path):
    result = _script("stress_faults.py", "--kills", "4", "--output-kills", "1", "--updates", "120", "--seed", "3",
                     "--work", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("stress_faults: ") and summary.endswith("all checks passed"), summary
    assert summary.startswith("stress_faults: 4 training stops, 1 preprocess and 1 generate kills")
    assert "final parameters equal the uninterrupted run's" in result.stdout


def test_fuzz_cli_short_run_passes():
    result = _script("fuzz_cli.py", "--cases", "200", "--cli-every", "67", "--seed", "7")  # each target via the CLI
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("fuzz_cli: 200 hostile inputs") and summary.endswith("all checks passed"), summary
    assert "3 also through the CLI" in summary
    assert "0 crashes, 0 tracebacks, 0 wrong line counts, 0 exit codes other than 0/2" in summary
