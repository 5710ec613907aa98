"""The task seam: all that the training loop, the trainer, `generate` and `translate` know of a task.

A task owns its data and its training step. The loop asks it for the batches of an epoch
(a pure function of seed and epoch, so a resumed run rebuilds them and skips what it did),
hands each batch back to `train_step`, and reduces the logs through it; it never reads a
task's splits, dictionaries or files. `translation` is one implementation; a `--user-dir`
task registers with `@TASKS.register(name, config=...)` and implements the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from toolkit.data.collate import Batch


@dataclass
class Batching:
    """What the loop decides about batch sizes; the task decides which sentences go together."""

    max_tokens: int | None
    max_sentences: int | None
    max_positions: tuple[int, int] | None
    seed: int = 1


@dataclass
class EpochPlan:
    """The batches of one epoch, in training order. A batch reference is opaque to the loop."""

    batches: list[Any]
    skipped: int = 0  # sentences too long for the budget or the model


@dataclass
class CheckpointData:
    """What a checkpoint needs to translate, keyed by language (not by source/target side).

    languages: {"source": L, "target": L, "directions": [[src, tgt], ...]} and, for models
    with language embeddings or tags, "ids" {lang: int} and "decoder_start" {lang: symbol}.
    """

    languages: dict
    dictionaries: dict[str, dict]
    text_processors: dict[str, dict] | None = None
    extra: dict = field(default_factory=dict)

    def to_state(self) -> dict:
        return {
            "languages": self.languages,
            "dictionaries": self.dictionaries,
            "text_processors": self.text_processors,
            **self.extra,
        }


@runtime_checkable
class Task(Protocol):
    config: Any

    def build_model(self, arch_cls: type, model_config: Any) -> torch.nn.Module:
        """The model for this task's dictionaries."""

    def describe_training(self) -> str:
        """One line on the training data, e.g. 'train 10000 x2 + train1 9500 (29500 an epoch)'."""

    def epoch_plan(self, epoch: int, batching: Batching) -> EpochPlan:
        """The training batches of `epoch` (from 1); a pure function of (batching.seed, epoch)."""

    def valid_plan(self, batching: Batching) -> EpochPlan:
        """The validation batches, in a fixed order."""

    def batch(self, ref: Any, train: bool) -> Batch:
        """The Batch a reference from a plan stands for."""

    def train_step(self, model, criterion, batch: Batch, update_num: int) -> tuple[torch.Tensor, int, dict]:
        """The loss to back-propagate (sum-reduced), its sample size, and summable log values.

        The logs must hold "loss" (the float of the loss) and "sample_size"; every numeric
        value is summed over the batches of an update and over processes.
        """

    def valid_step(self, model, criterion, batch: Batch) -> dict:
        """Summable log values of one validation batch (model in eval mode, no gradient)."""

    def reduce_logs(self, logs: list[dict], criterion) -> dict:
        """Figures from summed logs: loss, nll_loss, ppl, ntokens (all four required), and any
        stream (loss_NAME) or metric of its own.

        A "messages" entry (a list of text lines), if present, is shown by the loop.
        """

    def valid_metrics(self) -> tuple[str, ...]:
        """The names validation reports, one of which --best-checkpoint-metric must be."""

    def state_dict(self) -> dict:
        """Task-side state a checkpoint must carry for resume to stay exact."""

    def load_state_dict(self, state: dict) -> None: ...

    def checkpoint_data(self) -> CheckpointData: ...

    # --- inference: generate and translate ---------------------------------------------
    def load_split(self, split: str, source_only: bool = False):
        """A split to translate (a PairDataset); with source_only, its source side (or monolingual text) alone."""

    def dictionary(self, lang: str):
        """The dictionary of `lang` in the task's data."""

    def text_processor(self, lang: str):
        """The preprocessing the data recorded for `lang` (a TextProcessor), or None."""
