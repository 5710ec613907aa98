"""Raw text -> preprocess -> train (5 updates) -> generate -> score -> translate -> average, via the real CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.helpers.cli import nmt_ok as nmt

ROOT = Path(__file__).resolve().parents[2]
DE = ["Hallo", "Welt", "der", "Hund", "läuft", "schnell", "die", "Katze", "schläft", "heute", "nicht", "sehr"]
EN = ["Hello", "world", "the", "dog", "runs", "fast", "the", "cat", "sleeps", "today", "not", "very"]


def corpus(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    src, tgt = [], []
    for _ in range(n):
        idx = [rng.randrange(len(DE)) for _ in range(rng.randint(2, 6))]
        end = rng.choice([".", "!", "?"])
        src.append(" ".join(DE[i] for i in idx).capitalize() + ("," if len(idx) > 3 else "") + " ok" + end)
        tgt.append(" ".join(EN[i] for i in idx).capitalize() + ("," if len(idx) > 3 else "") + " ok" + end)
    return src, tgt


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_pipeline(tmp_path):
    rng = random.Random(0)
    raw = tmp_path / "raw"
    raw.mkdir()
    for split, n in (("train", 150), ("valid", 10), ("test", 12)):
        src, tgt = corpus(rng, n)
        write(raw / f"{split}.de", src)
        write(raw / f"{split}.en", tgt)
    data, ckpts = tmp_path / "data", tmp_path / "ckpts"
    nmt(
        "preprocess",
        "-s",
        "de",
        "-t",
        "en",
        "--trainpref",
        str(raw / "train"),
        "--validpref",
        str(raw / "valid"),
        "--testpref",
        str(raw / "test"),
        "--destdir",
        str(data),
        "--bpe-merges",
        "40",
        "--joined-dictionary",
        "--workers",
        "1",
        "--quiet",
    )
    nmt(
        "train",
        str(data),
        "--arch",
        "transformer_tiny",
        "--encoder-layers",
        "1",
        "--decoder-layers",
        "1",
        "--max-update",
        "5",
        "--max-tokens",
        "1500",
        "--save-dir",
        str(ckpts),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log-format",
        "simple",
        "--lr",
        "0.001",
        "--warmup-updates",
        "2",
    )
    epochs = sorted(ckpts.glob("checkpoint[0-9]*.pt"))
    assert len(epochs) >= 2, sorted(p.name for p in ckpts.iterdir())
    last = str(ckpts / "checkpoint_last.pt")

    results = tmp_path / "results"
    gen = nmt("generate", str(data), "--path", last, "--beam", "2", "--max-len-b", "12", "--results-path", str(results))
    assert "BLEU|nrefs:1" in gen.stdout
    output = (results / "generate-test.txt").read_text(encoding="utf-8")
    d_lines = {
        int(k[2:]): v.split("\t", 1)[1]
        for k, v in (line.split("\t", 1) for line in output.splitlines() if line.startswith("D-"))
    }
    t_lines = {int(k[2:]): v for k, v in (line.split("\t", 1) for line in output.splitlines() if line.startswith("T-"))}
    assert sorted(d_lines) == list(range(12))
    # References are detokenized with the data's own Moses settings: the raw test text comes back.
    assert [t_lines[i] for i in range(12)] == (raw / "test.en").read_text(encoding="utf-8").splitlines()

    score = json.loads(nmt("score", "--sys", str(results / "generate-test.txt"), "--json").stdout)
    import sacrebleu

    assert score["scores"][0]["score"] == pytest.approx(
        sacrebleu.corpus_bleu([d_lines[i] for i in range(12)], [[t_lines[i] for i in range(12)]]).score
    )

    # translate applies the checkpoint's preprocessing to raw text: same output as generate.
    raw_test = (raw / "test.de").read_text(encoding="utf-8")
    translated = nmt(
        "translate", "--path", last, "--beam", "2", "--max-len-b", "12", stdin=raw_test
    ).stdout.splitlines()
    assert translated == [d_lines[i] for i in range(12)]

    avg = tmp_path / "avg.pt"
    nmt("average-checkpoints", "--inputs", str(ckpts), "--num-epoch-checkpoints", "2", "--output", str(avg))
    gen = nmt("generate", str(data), "--path", str(avg), "--beam", "2", "--max-len-b", "12", "--quiet")
    assert "sentences/s" in gen.stdout
