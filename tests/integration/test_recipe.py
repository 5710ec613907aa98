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


def _planned_precision() -> str:
    """What the recipe trains in on this machine: `nmt info --precision` (bf16 where it is native)."""
    out = subprocess.run([sys.executable, "-m", "cli", "info", "--precision"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip()


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
    scores = re.findall(r"^BLEU\|.*? = (\d+\.\d+)", first.stdout, flags=re.M)
    assert len(scores) == 2 and all(0 <= float(s) <= 100 for s in scores)
    assert "pretok:moses" in first.stdout
    table = first.stdout[first.stdout.index("== summary") :].splitlines()
    assert table[1].split() == ["system", "direction", "precision", "sacreBLEU", "tok-lc"]
    planned = _planned_precision()
    assert table[2].split() == ["transformer_tiny", "de->en", planned, *(f"{float(s):.2f}" for s in scores)]

    stamp = (checkpoints / "average.pt").stat().st_mtime_ns
    second = _recipe(raw, work)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert second.stdout.count("done already") == 3  # preprocess, average, translate
    assert "resumed from" in second.stdout + second.stderr
    assert (checkpoints / "average.pt").stat().st_mtime_ns == stamp
    assert re.findall(r"^BLEU\|.*? = (\d+\.\d+)", second.stdout, flags=re.M) == scores


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_quick_recipe_runs_on_slices_and_tabulates_every_system_in_its_work(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    _write_corpus(raw, {"train": 2300, "val": 130, "test_2016_flickr": 120})
    run = _recipe(raw, work, QUICK="1", PREPROCESS_ARGS="", TRAIN_ARGS="--threads 1")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    recorded = json.loads((work / "data-bin" / "de-en" / "preprocess.json").read_text())
    splits = recorded["splits"]
    assert splits["train"]["de"]["sentences"] == 2000 and splits["test"]["de"]["sentences"] == 100
    assert "--max-update 40" in run.stdout  # the tiny model's flags are printed with the others
    generated = (work / "results" / "transformer_tiny.de-en" / "generate-test.txt").read_text()
    assert len(re.findall(r"^D-\d+\t", generated, flags=re.M)) == 100

    small_lstm = "--threads 1 --encoder-embed-dim 32 --encoder-hidden-size 32 --decoder-embed-dim 32 \
--decoder-hidden-size 32 --decoder-out-embed-dim 32"
    other = _recipe(raw, work, QUICK="1", PREPROCESS_ARGS="", TRAIN_ARGS=small_lstm, ARCH="lstm")
    assert other.returncode == 0, other.stdout[-2000:] + other.stderr[-2000:]
    rows = [line.split() for line in other.stdout[other.stdout.index("== summary") :].splitlines()[2:]]
    planned = _planned_precision()
    assert [row[:3] for row in rows] == [["lstm", "de->en", planned], ["transformer_tiny", "de->en", planned]]


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


_FAKE_NMT = """#!/usr/bin/env bash
# Records each call; does only what the recipe's later stages look for.
printf '%s\\n' "$*" >> "$NMT_CALLS"
arg() { local want=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1" in
  info) echo "$FAKE_PRECISION" ;;
  preprocess)
    dest=$(arg --destdir "$@"); mkdir -p "$dest"; echo '{}' > "$dest/preprocess.json" ;;
  train) mkdir -p "$(arg --save-dir "$@")" ;;
  generate) out=$(arg --results-path "$@"); mkdir -p "$out"; : > "$out/generate-test.txt" ;;
esac
"""


def _recipe_with_fake_nmt(tmp_path: Path, precision: str, **settings: str) -> tuple[str, list[str]]:
    """Run the recipe against a stand-in `nmt`: its output and the nmt command lines it issued."""
    raw, work, shim = tmp_path / "raw", tmp_path / "work", tmp_path / "fake-bin"
    tmp_path.mkdir(parents=True, exist_ok=True)
    _write_corpus(raw, {"train": 5, "val": 2, "test_2016_flickr": 2})
    shim.mkdir()
    (shim / "nmt").write_text(_FAKE_NMT)
    (shim / "nmt").chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("ARCH", "PRECISION", "TRAIN_ARGS", "MINUTES")}
    env.update(PATH=f"{shim}:{env['PATH']}", NMT_CALLS=str(calls), FAKE_PRECISION=precision, WORK=str(work))
    env.update(settings)
    run = subprocess.run(["bash", str(RECIPE), str(raw)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run.stdout, calls.read_text().splitlines()


def _call(calls: list[str], command: str) -> list[str]:
    (line,) = [c for c in calls if c.split()[0] == command]
    return line.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_trains_transformer_small_in_bf16_where_bf16_is_native(tmp_path):
    _, calls = _recipe_with_fake_nmt(tmp_path, "bf16")
    train = _call(calls, "train")
    assert train[train.index("--arch") + 1] == "transformer_small"
    assert "--bf16" in train and "--lr-scheduler" not in train
    assert train[train.index("--lr") + 1] == "0.001" and train[train.index("--stop-time-minutes") + 1] == "60"


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_trains_the_fp32_preset_without_native_bf16(tmp_path):
    out, calls = _recipe_with_fake_nmt(tmp_path, "fp32", MINUTES="30")
    train = _call(calls, "train")
    assert train[train.index("--arch") + 1] == "transformer_tiny" and "--no-bf16" in train
    assert train[train.index("--dropout") + 1] == "0.1" and train[train.index("--lr") + 1] == "0.005"
    assert train[train.index("--lr-scheduler") + 1] == "cosine"
    assert train[train.index("--period-updates") + 1] == str(30 * 4500 // 60 - 1000)  # sized to the budget
    assert "transformer_tiny (fp32)" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_keeps_the_users_choices_over_the_fp32_preset(tmp_path):
    _, calls = _recipe_with_fake_nmt(tmp_path, "fp32", ARCH="lstm")
    train = _call(calls, "train")
    assert train[train.index("--arch") + 1] == "lstm" and "--no-bf16" in train and "--lr-scheduler" not in train

    _, calls = _recipe_with_fake_nmt(tmp_path / "b", "fp32", TRAIN_ARGS="--dropout 0.3")
    train = _call(calls, "train")
    assert [train[i + 1] for i, flag in enumerate(train) if flag == "--dropout"] == ["0.1", "0.3"]  # the last wins


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_refuses_an_unknown_precision(tmp_path):
    raw = tmp_path / "raw"
    _write_corpus(raw, {"train": 2, "val": 1, "test_2016_flickr": 1})
    env = {**os.environ, "PRECISION": "fp16", "WORK": str(tmp_path / "work")}
    run = subprocess.run(["bash", str(RECIPE), str(raw)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2 and run.stderr.strip() == "PRECISION must be bf16 or fp32, not 'fp16'"


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe is a bash script")
def test_recipe_says_in_one_line_when_nmt_is_not_installed(tmp_path):
    system_path = "/usr/bin:/bin"
    if shutil.which("nmt", path=system_path):
        pytest.skip("an nmt lies on the system PATH")
    raw = tmp_path / "raw"
    _write_corpus(raw, {"train": 2, "val": 1, "test_2016_flickr": 1})
    env = {**os.environ, "PATH": system_path, "WORK": str(tmp_path / "work")}
    run = subprocess.run(["bash", str(RECIPE), str(raw)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2 and run.stderr == "nmt is not on PATH: install it first (pip install -e .)\n"
