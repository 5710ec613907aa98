"""recipes/multi30k/run.sh end to end on a tiny raw corpus: every stage runs, a rerun skips them."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "multi30k" / "run.sh"
WORDS = "a man a woman the dog a child runs plays sits on in with red blue ball street grass water".split()


def _write_corpus(raw: Path, sizes: dict[str, int]) -> None:
    rng = random.Random(0)
    raw.mkdir()
    for split, n in sizes.items():
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(n)]
        for lang, text in (("de", lines), ("en", [" ".join(reversed(line.split())) for line in lines])):
            with gzip.open(raw / f"{split}.{lang}.gz", "wt", encoding="utf-8") as handle:
                handle.write("".join(f"{line.capitalize()} .\n" for line in text))


def _recipe(raw: Path, work: Path, **settings: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent  # the `nmt` console script of this environment, else the checkout
    shim = work.parent / "bin"
    if not (bin_dir / "nmt").exists() and not shim.exists():
        shim.mkdir()
        (shim / "nmt").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n')
        (shim / "nmt").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim}:{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "SRC": "de",
        "TGT": "en",
        "ARCH": "transformer_tiny",
        "MINUTES": "5",
        "AVERAGE": "2",
        "WORK": str(work),
        "PREPROCESS_ARGS": "--bpe-dropout 0.1 --bpe-dropout-copies 1",
        "TRAIN_ARGS": "--encoder-layers 1 --decoder-layers 1 --max-epoch 3 --no-bf16 --threads 1",
        **settings,
    }
    return subprocess.run(["bash", str(RECIPE), str(raw)], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_runs_end_to_end_and_reruns_safely(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    _write_corpus(raw, {"train": 300, "val": 20, "test_2016_flickr": 20})
    first = _recipe(raw, work)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    recorded = json.loads((work / "data-bin" / "de-en" / "preprocess.json").read_text())
    assert recorded["config"]["bpe_dropout"] == 0.1  # PREPROCESS_ARGS reached nmt preprocess
    assert recorded["splits"]["train"]["de"]["sentences"] == 600  # the corpus, then one BPE-dropout copy
    checkpoints = work / "checkpoints" / "transformer_tiny.de-en"
    assert sorted(p.name for p in checkpoints.glob("checkpoint[0-9]*.pt")) == ["checkpoint2.pt", "checkpoint3.pt"]
    generated = (work / "results" / "transformer_tiny.de-en" / "generate-test.txt").read_text()
    assert len(re.findall(r"^D-\d+\t", generated, flags=re.M)) == 20
    scores = re.findall(r"^BLEU\|.* = (\d+\.\d+)", first.stdout, flags=re.M)
    assert len(scores) == 2 and all(0 <= float(s) <= 100 for s in scores)
    assert "pretok:moses" in first.stdout

    stamp = (checkpoints / "average.pt").stat().st_mtime_ns
    second = _recipe(raw, work)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert second.stdout.count("done already") == 3  # preprocess, average, translate
    assert "resumed from" in second.stdout + second.stderr
    assert (checkpoints / "average.pt").stat().st_mtime_ns == stamp
    assert re.findall(r"^BLEU\|.* = (\d+\.\d+)", second.stdout, flags=re.M) == scores


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_averages_update_checkpoints_when_asked(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    _write_corpus(raw, {"train": 200, "val": 10, "test_2016_flickr": 10})
    train_args = "--encoder-layers 1 --decoder-layers 1 --max-epoch 2 --no-bf16 --threads 1 --max-tokens 600"
    result = _recipe(
        raw,
        work,
        AVERAGE_UPDATES="2",
        PREPROCESS_ARGS="",
        TRAIN_ARGS=f"{train_args} --save-interval-updates 2 --keep-interval-updates 2",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    update_checkpoint = r"(checkpoint_\d+_\d+\.pt)"
    averaged = re.search(rf"averaged 2 checkpoints \({update_checkpoint}, {update_checkpoint}\)", result.stdout)
    assert averaged, result.stdout[-2000:]
    kept = sorted((work / "checkpoints" / "transformer_tiny.de-en").glob("checkpoint_*_*.pt"))
    assert sorted(averaged.groups()) == sorted(p.name for p in kept)
