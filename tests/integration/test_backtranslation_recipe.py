"""recipes/backtranslation/run.sh with QUICK=1: the whole pipeline, interrupted and resumed, rerun, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import make_corpus
from tests.helpers.cli import REPO

RECIPE = REPO / "recipes" / "backtranslation" / "run.sh"


def _env(work: Path, **extra: str) -> dict[str, str]:
    """The recipe's environment: `nmt` and `python` are this checkout and this interpreter."""
    shim = work.parent / f"{work.name}-bin"
    if not shim.exists():
        shim.mkdir(parents=True)
        (shim / "nmt").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n')
        (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        for tool in ("nmt", "python"):
            (shim / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO),
            "WORK": str(work), "QUICK": "1", **extra}  # fmt: skip


def _run(raw: Path, work: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(RECIPE), str(raw)], env=_env(work, **extra), capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Multi30k's file names over a generated corpus: 1,000 training pairs (QUICK uses 400 + 300 + 300)."""
    return make_corpus(tmp_path_factory.mktemp("bt") / "raw", {"train": 1000, "val": 40, "test_2016_flickr": 40})


def test_quick_recipe_interrupted_resumed_and_rerun(raw, tmp_path):
    work = tmp_path / "work"
    # Start, and kill the whole recipe once the baseline has written a checkpoint.
    first = subprocess.Popen(["bash", str(RECIPE), str(raw)], env=_env(work, TAGGED="1", CEILING="0"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    last = work / "models" / "baseline" / "checkpoint_last.pt"
    deadline = time.time() + 300
    while not last.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert last.exists(), "the baseline never saved a checkpoint"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()

    run = _run(raw, work, TAGGED="1", CEILING="0")  # the ceiling is one more training of the same kind
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "resumed from" in out  # the killed training went on where it stopped
    table = out[out.index("== summary") :]
    for system in ("baseline", "reverse", "bt-beam-tagged"):
        assert f"\n{system} " in table, table
    assert "sentences/s" in table and "wall time per stage" in table

    # The synthetic corpus is line-aligned with its monolingual input; what the filter drops is counted.
    syn = work / "synthetic" / "bt-beam"
    ids = [int(x) for x in (syn / "bt.ids").read_text().split()]
    real = (syn / "bt.en").read_text(encoding="utf-8").splitlines()
    mono_bpe = {
        int(line.split("\t")[0][2:]): line.split("\t")[1]
        for line in (syn / "generate-train.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("S-")
    }
    assert len(mono_bpe) == 300 and len(ids) == len(real) == len((syn / "bt.de").read_text().splitlines())
    assert [mono_bpe[i] for i in ids] == real
    counts = (syn / "filter.txt").read_text()
    assert f"kept {len(ids)}" in counts and "back-translations: 300" in counts
    # The forward model trained with the tag on the synthetic split only (the task tests where it goes).
    state = torch.load(work / "models" / "bt-beam-tagged" / "checkpoint_last.pt", weights_only=True)
    assert state["config"]["task"]["params"]["tagged_subsets"] == "train1"
    assert (work / "data-bin" / "bt-beam" / "train1.de-en.de.bin").is_file()

    # A rerun skips every finished stage.
    scores = work / "results" / "bt-beam-tagged" / "scores.tsv"
    stamp = scores.stat().st_mtime_ns
    again = _run(raw, work, TAGGED="1", CEILING="0")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("done already") >= 2 and "averaged" not in again.stdout
    assert "back-translation bt-beam: done already" in again.stdout
    assert scores.stat().st_mtime_ns == stamp


def test_bad_input_is_one_line(raw, tmp_path):
    (tmp_path / "p.de").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "p.en").write_text("a\n", encoding="utf-8")
    (tmp_path / "mono.en").write_text("c\n", encoding="utf-8")
    cases = [
        ({"PARALLEL": str(tmp_path / "p"), "MONO_TGT": str(tmp_path / "mono.en")}, "has 2 lines but"),
        ({"PARALLEL": str(tmp_path / "p"), "MONO_TGT": str(tmp_path / "missing.en")}, "input not found"),
        ({"BT_METHOD": "nucleus"}, "BT_METHOD must be"),
    ]
    for extra, message in cases:
        run = _run(raw, tmp_path / "w", **extra)
        errors = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(errors) == 1 and message in errors[0], run.stderr
    run = subprocess.run(["bash", str(RECIPE), str(tmp_path / "nowhere")], env=_env(tmp_path / "w"),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 2 and "raw data directory not found" in run.stderr
