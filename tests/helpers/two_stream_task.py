"""A `--user-dir` task with two loss streams and task-side state, plugged in through the task protocol only.

Stream "forward" is the usual loss; stream "reversed" trains on the same pairs with the source
words reversed (a second view of the data), weighted by --reversed-weight. The task counts its
steps, a state a checkpoint must carry for resume to stay exact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from toolkit.config import option
from toolkit.registry import TASKS
from toolkit.tasks.translation import TranslationConfig, TranslationTask


@dataclass
class TwoStreamConfig(TranslationConfig):
    reversed_weight: float = option(0.5, "weight of the reversed-source stream")


@TASKS.register("two_stream", config=TwoStreamConfig)
class TwoStreamTask(TranslationTask):
    def __init__(self, config: TwoStreamConfig) -> None:
        super().__init__(config)
        self.steps = 0

    def train_step(self, model, criterion, batch, update_num: int):
        self.steps += 1
        loss, size, log = criterion(model, batch)
        flipped = batch.src_tokens.clone()
        for row, length in enumerate(batch.src_lengths.tolist()):  # words reversed, EOS kept last
            flipped[row, : length - 1] = batch.src_tokens[row, : length - 1].flip(0)
        extra, _, extra_log = criterion(model, dataclasses.replace(batch, src_tokens=flipped))
        total = loss + self.config.reversed_weight * extra
        log = dict(log, loss=float(total.detach()), loss_forward=log["loss"], loss_reversed=extra_log["loss"])
        return total, size, log

    def reduce_logs(self, logs, criterion):
        stats = super().reduce_logs(logs, criterion)
        if logs and "loss_forward" in logs[0]:
            for stream in ("loss_forward", "loss_reversed"):
                stats[stream] = criterion.reduce_logs([dict(log, loss=log[stream]) for log in logs])["loss"]
        return stats

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state.get("steps", 0))
