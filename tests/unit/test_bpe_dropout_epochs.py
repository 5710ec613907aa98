"""Per-epoch BPE-dropout: each epoch trains on the next sampled segmentation of the corpus, and only on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers.training import tiny_setup
from toolkit.data.preprocess import PreprocessConfig, preprocess
from toolkit.errors import UserError
from toolkit.train.loop import TrainingRun

CORPUS = 300  # sentences in the tiny corpus's training split
COPIES = 3


def _preprocess(raw, dest, **kwargs):
    preprocess(
        PreprocessConfig(
            source_lang="de",
            target_lang="en",
            trainpref=str(raw / "train"),
            validpref=[str(raw / "valid")],
            destdir=str(dest),
            bpe_merges=60,
            joined_dictionary=True,
            workers=1,
            quiet=True,
            **kwargs,
        )
    )
    return dest


def _run(data, save_dir, per_epoch: bool) -> TrainingRun:
    setup = tiny_setup(data, save_dir=str(save_dir))
    setup.task.bpe_dropout_per_epoch = per_epoch
    return TrainingRun(setup)


def _words(run: TrainingRun, rows) -> list[tuple[str, str]]:
    """(source, target) of each row with the BPE undone: every segmentation reads as the same words."""
    data, d = run.task.load_split("train"), run.task.src_dict
    return [(d.string(data.src[i]).replace("@@ ", ""), d.string(data.tgt[i]).replace("@@ ", "")) for i in rows]


def test_each_epoch_trains_on_the_next_copy_and_nothing_else(tiny_corpus, tmp_path):
    data = _preprocess(tiny_corpus, tmp_path / "bin", bpe_dropout=0.3, bpe_dropout_copies=COPIES)
    run = _run(data, tmp_path / "ckpt", per_epoch=True)
    assert len(run.task.load_split("train")) == CORPUS * (COPIES + 1)
    corpus = _words(run, range(CORPUS))
    orders = {}
    for epoch, copy in zip(range(1, 6), (1, 2, 3, 1, 2), strict=True):
        batches = run._epoch_plan(epoch)
        rows = np.concatenate(batches)
        assert sorted(rows.tolist()) == list(range(copy * CORPUS, (copy + 1) * CORPUS)), epoch
        assert _words(run, sorted(rows.tolist())) == corpus  # the copy is the corpus, aligned line by line
        orders[epoch] = rows.tolist()
    assert orders[1] != orders[4]  # a copy seen again comes in another batch order
    segmentations = [
        [run.task.src_dict.string(run.task.load_split("train").src[i]) for i in range(c * CORPUS, (c + 1) * CORPUS)]
        for c in range(COPIES + 1)
    ]
    assert len({tuple(s) for s in segmentations}) == COPIES + 1  # each copy is a different segmentation

    everything = _run(data, tmp_path / "ckpt-all", per_epoch=False)
    assert sorted(np.concatenate(everything._epoch_plan(1)).tolist()) == list(range(CORPUS * (COPIES + 1)))


def test_per_epoch_dropout_refuses_data_it_cannot_split(tiny_corpus, tmp_path):
    plain = _preprocess(tiny_corpus, tmp_path / "plain")
    with pytest.raises(UserError, match="needs data made with nmt preprocess --bpe-dropout"):
        _run(plain, tmp_path / "c1", per_epoch=True).task.describe_training()
    dropped = _preprocess(tiny_corpus, tmp_path / "dropped", bpe_dropout=0.1, bpe_dropout_copies=2)
    meta_path = dropped / "preprocess.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["bpe_dropout_copies"] = 7  # the record no longer matches the split's length
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="not a multiple of the 8 segmentations"):
        _run(dropped, tmp_path / "c2", per_epoch=True).task.describe_training()
