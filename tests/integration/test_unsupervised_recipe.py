"""recipes/unsupervised/run.sh with QUICK=1: the whole pipeline and its table, a rerun that skips, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import make_corpus
from tests.helpers.cli import REPO
from tests.integration.test_backtranslation_recipe import _env

RECIPE = REPO / "recipes" / "unsupervised" / "run.sh"


def _run(raw: Path, work: Path, **extra: str) -> subprocess.CompletedProcess:
    env = _env(work, **{"SRC": "de", "TGT": "en", **extra})
    return subprocess.run(["bash", str(RECIPE), str(raw)], env=env, capture_output=True, text=True, timeout=900,
                          check=False)  # fmt: skip


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Multi30k's file names over a generated corpus (QUICK uses two disjoint halves of 300 lines)."""
    return make_corpus(tmp_path_factory.mktemp("unmt") / "raw", {"train": 1000, "val": 30, "test_2016_flickr": 30})


def test_quick_recipe_runs_end_to_end_and_a_rerun_skips_every_stage(raw, tmp_path):
    work = tmp_path / "work"
    run = _run(raw, work)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = run.stdout[run.stdout.index("== summary") :]
    for row in ("copy                         de->en", "unmt-mlm                     de->en",
                "unmt-mlm                     en->de"):  # fmt: skip
        assert row in table, table
    assert "wall time per stage" in table and "train mlm" in table
    # The halves are disjoint: no training sentence of one language is the other's translation.
    text = work / "text"
    de, en = (text / "mono.de").read_text().splitlines(), (text / "mono.en").read_text().splitlines()
    assert len(de) == len(en) == 300
    raw_de = (raw / "train.de").read_text().splitlines()
    raw_en = (raw / "train.en").read_text().splitlines()
    assert de == raw_de[:300] and en == raw_en[300:600]
    # The translation model started from the masked LM, and its checkpoint translates both ways.
    state = torch.load(work / "models" / "unmt-mlm" / "checkpoint_last.pt", weights_only=True)
    assert state["config"]["train"]["init_from"].endswith("mlm/checkpoint_best.pt")
    assert sorted(map(tuple, state["languages"]["directions"])) == [("de", "en"), ("en", "de")]

    average = work / "models" / "unmt-mlm" / "average.pt"
    made = average.stat().st_mtime_ns
    again = _run(raw, work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done already") >= 2 + 2 + 1  # inputs, preprocess, 2 tests, average
    assert again.stdout.count("resumed from") == 2  # both trainings: finished, so they stop at once
    assert average.stat().st_mtime_ns == made  # not averaged again


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"UPDATES": "x"}, "take whole numbers"),
        ({"SRC": "en", "TGT": "en"}, "SRC and TGT must differ"),
    ],
)
def test_bad_settings_are_one_line_and_exit_code_2(raw, tmp_path, extra, message):
    run = _run(raw, tmp_path / "work", **extra)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_a_missing_data_directory_is_one_line(tmp_path):
    run = _run(tmp_path / "nowhere", tmp_path / "work")
    assert run.returncode == 2 and "raw data directory not found" in run.stderr
