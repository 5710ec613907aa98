"""Cross-entropy and label-smoothed cross-entropy over non-pad target tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from toolkit.config import option
from toolkit.criterions.fused_projection_loss import projection_loss
from toolkit.data.collate import Batch
from toolkit.registry import CRITERIONS


@dataclass
class CrossEntropyConfig:
    pass


@dataclass
class LabelSmoothedCrossEntropyConfig:
    label_smoothing: float = option(0.1, "probability mass spread uniformly over the vocabulary")


class _ProjectionCriterion:
    epsilon: float = 0.0

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, int, dict]:
        """Returns the sum-reduced loss, the number of target tokens it sums over, and log values."""
        features, _ = model(batch.src_tokens, batch.src_lengths, batch.prev_output_tokens, **language_arguments(batch))
        keep = batch.target.ne(model.pad_index)
        loss, nll = projection_loss(
            features[keep], model.output_weight, model.output_bias, batch.target[keep], self.epsilon
        )
        sample_size = batch.ntokens
        return (
            loss,
            sample_size,
            {
                "loss": float(loss.detach()),
                "nll_loss": float(nll.detach()),
                "ntokens": batch.ntokens,
                "nsentences": batch.nsentences,
                "sample_size": sample_size,
            },
        )

    __call__ = forward

    @staticmethod
    def reduce_logs(logs: list[dict]) -> dict:
        return summarize(logs)


def language_arguments(batch: Batch) -> dict:
    """The per-sentence language ids a task put on the batch, as model keywords (none: a plain call)."""
    languages = {"src_lang": batch.src_lang, "tgt_lang": batch.tgt_lang}
    return {name: ids for name, ids in languages.items() if ids is not None}


@CRITERIONS.register("cross_entropy", config=CrossEntropyConfig)
class CrossEntropyCriterion(_ProjectionCriterion):
    """Token-level cross-entropy, padding ignored."""

    def __init__(self, config: CrossEntropyConfig) -> None:
        self.config = config


@CRITERIONS.register("label_smoothed_cross_entropy", config=LabelSmoothedCrossEntropyConfig)
class LabelSmoothedCrossEntropyCriterion(_ProjectionCriterion):
    """Cross-entropy against a target smoothed by --label-smoothing (Szegedy et al. 2016)."""

    def __init__(self, config: LabelSmoothedCrossEntropyConfig) -> None:
        if not 0.0 <= config.label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must be in [0, 1), got {config.label_smoothing}")
        self.config = config
        self.epsilon = config.label_smoothing


def summarize(logs: list[dict]) -> dict:
    """Aggregate logging outputs: loss per token and nll per token in base 2, perplexity."""
    sample_size = sum(log["sample_size"] for log in logs) or 1
    ntokens = sum(log["ntokens"] for log in logs) or 1
    loss = sum(log["loss"] for log in logs) / sample_size / math.log(2)
    nll = sum(log["nll_loss"] for log in logs) / ntokens / math.log(2)
    return {"loss": loss, "nll_loss": nll, "ppl": 2 ** min(nll, 100.0), "ntokens": ntokens}
