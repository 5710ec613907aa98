"""The translation task's data: train1 discovery, weights, both directions, tags, monolingual splits, resume."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

from tests.helpers.preprocess_config import preprocess_config
from tests.helpers.training import tiny_setup
from toolkit.data.preprocess import preprocess
from toolkit.errors import UserError
from toolkit.tasks.base import Batching
from toolkit.tasks.translation import TranslationConfig, TranslationTask

BATCHING = Batching(max_tokens=4000, max_sentences=None, max_positions=None, seed=1)
TRAIN, TRAIN1 = 300, 30  # sentences: the tiny corpus's train, and its valid copied as train1


def _copy_split(data, split, new_split, pair="de-en", new_pair="de-en"):
    for lang in ("de", "en"):
        for ext in ("bin", "idx"):
            shutil.copyfile(data / f"{split}.{pair}.{lang}.{ext}", data / f"{new_split}.{new_pair}.{lang}.{ext}")


@pytest.fixture
def data(tiny_corpus, tmp_path):
    """train (300 sentences) and train1 (30: a copy of valid) beside it, one joined dictionary."""
    dest = tmp_path / "bin"
    preprocess(preprocess_config(tiny_corpus, dest, joined_dictionary=True))
    _copy_split(dest, "valid", "train1")
    return dest


def _task(data, **kwargs) -> TranslationTask:
    return TranslationTask(TranslationConfig(data=str(data), **kwargs))


def _seen(task, epoch=1) -> Counter:
    """How many times each (split, row) is in the epoch's batches."""
    mix = task._training_data()
    ids = np.concatenate(task.epoch_plan(epoch, BATCHING).batches)
    which = np.searchsorted(mix.offsets, ids, side="right") - 1
    return Counter((mix.corpora[k].name, int(i - mix.offsets[k])) for k, i in zip(which, ids, strict=True))


def test_train1_is_found_and_upsampling_repeats_the_primary_only(data):
    task = _task(data, upsample_primary=3)
    assert task.training_splits() == ["train", "train1"]
    seen = _seen(task)
    assert {n for (split, _), n in seen.items() if split == "train"} == {3}
    assert {n for (split, _), n in seen.items() if split == "train1"} == {1}
    assert len(seen) == TRAIN + TRAIN1
    assert task.describe_training() == f"training on train {TRAIN} x3 + train1 {TRAIN1} ({3 * TRAIN + TRAIN1} an epoch)"
    assert _task(data, train_subset="train1").training_splits() == ["train1"]


def test_weights_give_the_corpora_in_that_proportion_and_resample_each_epoch(data):
    task = _task(data, subset_weights="0.5,2")
    seen = _seen(task)
    per_split = Counter()
    for (split, _), n in seen.items():
        per_split[split] += n
    assert per_split == {"train": TRAIN // 2, "train1": 2 * TRAIN1}  # 2:1 weights ask 150 : 60
    assert all(n == 1 for (split, _), n in seen.items() if split == "train")  # a fraction: without replacement
    rows = lambda counter: sorted(r for (split, r) in counter if split == "train")  # noqa: E731
    assert rows(_seen(task, 1)) == rows(_seen(_task(data, subset_weights="0.5,2"), 1))  # pure in (seed, epoch)
    assert rows(_seen(task, 1)) != rows(_seen(task, 2))


def test_bad_weights_and_names_are_one_line_errors(data):
    with pytest.raises(UserError, match="gives 1 weights for 2 training splits"):
        _task(data, subset_weights="2").describe_training()
    with pytest.raises(UserError, match="upsample-primary and --subset-weights"):
        _task(data, subset_weights="1,1", upsample_primary=2)
    with pytest.raises(UserError, match="'x' is not a weight"):
        _task(data, subset_weights="1,x")
    with pytest.raises(UserError, match="names bt, not a training split"):
        _task(data, tagged_subsets="bt").describe_training()
    with pytest.raises(UserError, match="missing split 'nope'"):
        _task(data, train_subset="train,nope").describe_training()


def test_a_split_serves_both_directions(data):
    _copy_split(data, "valid", "test2", new_pair="en-de")  # named the other way round
    forward, backward = _task(data), _task(data, source_lang="en", target_lang="de")
    for task in (forward, backward):
        pair = task.load_split("test2")
        assert len(pair) == TRAIN1
        valid = task.load_split("valid")
        assert [list(pair.src[i]) for i in range(TRAIN1)] == [list(valid.src[i]) for i in range(TRAIN1)]
    assert list(forward.load_split("valid").src[0]) == list(backward.load_split("valid").tgt[0])


def test_the_tag_is_on_the_tagged_split_only(tiny_corpus, data):
    tagged = data.parent / "tagged"
    preprocess(preprocess_config(tiny_corpus, tagged, joined_dictionary=True, extra_symbols=["<BT>"]))
    _copy_split(tagged, "valid", "train1")
    task = _task(tagged, tagged_subsets="train1")
    tag = task.src_dict.index("<BT>")
    assert tag == 4  # reserved right after the four specials
    mix = task._training_data()
    for ref in task.epoch_plan(1, BATCHING).batches:
        batch = task.batch(ref, train=True)
        in_train1 = torch.from_numpy(np.asarray(ref) >= mix.offsets[1])
        assert torch.equal(batch.src_tokens[:, 0].eq(tag), in_train1)
        assert not batch.src_tokens[:, 1:].eq(tag).any()
    with pytest.raises(UserError, match="has no <BT> symbol"):
        _task(data, tagged_subsets="train1").describe_training()


def test_a_monolingual_split_loads_as_source_text(tiny_corpus, tmp_path, data):
    mono = tmp_path / "mono"
    preprocess(preprocess_config(tiny_corpus, mono, only_source=True, srcdict=str(data / "dict.de.txt"),
                                 joined_dictionary=True, bpe_codes=str(data / "bpecodes")))  # fmt: skip
    for ext in ("bin", "idx"):
        shutil.copyfile(mono / f"train.de-None.de.{ext}", data / f"mono.de-None.de.{ext}")
    task = _task(data)
    split = task.load_split("mono")
    assert split.tgt is None and len(split) == TRAIN
    parallel = task.load_split("train")
    assert [list(split.src[i]) for i in range(5)] == [list(parallel.src[i]) for i in range(5)]
    source_only = task.load_split("train", source_only=True)
    assert source_only.tgt is None and len(source_only) == TRAIN
    with pytest.raises(UserError, match="has no en side"):
        _task(data, train_subset="train,mono").describe_training()


def _train(data, save_dir, max_update):
    from toolkit.train.loop import train

    setup = tiny_setup(data, save_dir=str(save_dir), max_update=max_update, max_tokens=1000, log_format="none",
                       save_interval_updates=2)  # fmt: skip
    task = dataclasses.replace(setup.task, subset_weights="1,0.5")
    setup = dataclasses.replace(setup, task=task, model=dataclasses.replace(setup.model, dropout=0.1))
    train(setup)
    return torch.load(save_dir / "checkpoint_last.pt", weights_only=True)


def test_a_multi_split_run_killed_and_resumed_equals_the_uninterrupted_run(data, tmp_path):
    torch.set_num_threads(1)
    whole = _train(data, tmp_path / "whole", 16)
    first = _train(data, tmp_path / "resumed", 4)  # stopped mid-epoch (as --max-update or a kill after a save would)
    resumed = _train(data, tmp_path / "resumed", 16)
    assert whole["trainer_state"]["trainer"]["num_updates"] == resumed["trainer_state"]["trainer"]["num_updates"] == 16
    assert first["trainer_state"]["epoch"] == 1 and whole["trainer_state"]["epoch"] >= 2  # the resumed part
    # crossed into an epoch whose fractional share of train1 is sampled anew
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name


def test_recorded_preprocessing_that_cannot_be_read_fails_loudly(data):
    assert set(_task(data).checkpoint_data().text_processors) == {"de", "en"}
    (data / "bpecodes").unlink()  # preprocess.json still names it
    with pytest.raises(UserError, match="bpecodes: unreadable BPE codes"):
        _task(data).checkpoint_data()
