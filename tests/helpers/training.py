"""Run one update of a tiny model directly through the Trainer (no CLI), for equivalence tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from toolkit.criterions.cross_entropy import LabelSmoothedCrossEntropyConfig
from toolkit.models.transformer import TransformerConfig
from toolkit.optim.lr_schedulers import FixedConfig
from toolkit.optim.optimizers import AdamConfig, SGDConfig
from toolkit.tasks.translation import TranslationConfig
from toolkit.train.config import TrainConfig
from toolkit.train.setup import TrainingSetup, build_components
from toolkit.train.trainer import Trainer


def tiny_setup(data: Path, **train_overrides) -> TrainingSetup:
    model = TransformerConfig(
        encoder_embed_dim=32,
        encoder_ffn_embed_dim=64,
        encoder_layers=1,
        encoder_attention_heads=2,
        decoder_embed_dim=32,
        decoder_ffn_embed_dim=64,
        decoder_layers=1,
        decoder_attention_heads=2,
        dropout=0.0,
        share_all_embeddings=True,
    )
    return TrainingSetup(
        train=dataclasses.replace(TrainConfig(arch="transformer", lr_scheduler="fixed"), **train_overrides),
        task=TranslationConfig(data=str(data)),
        model=model,
        criterion=LabelSmoothedCrossEntropyConfig(0.1),
        optimizer=AdamConfig(lr=1e-3),
        lr_scheduler=FixedConfig(),
    )


def one_update(data: Path, update_freq: int, batches: list[list[int]]) -> dict[str, torch.Tensor]:
    """Parameters after one SGD update (plain SGD, so parameters move linearly with the gradient)."""
    setup = dataclasses.replace(tiny_setup(data, update_freq=update_freq, optimizer="sgd"), optimizer=SGDConfig(lr=1.0))
    torch.manual_seed(0)
    task, model, criterion, optimizer, scheduler = build_components(setup, torch.device("cpu"))
    trainer = Trainer(model, criterion, optimizer, scheduler, torch.device("cpu"))
    dataset = task.load_split("train")
    trainer.train_step([dataset.batch(np.array(b)) for b in batches])
    return {name: p.detach().clone() for name, p in model.named_parameters()}
