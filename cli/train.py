"""`nmt train`: options generated from the registered components' config dataclasses."""

from __future__ import annotations

import argparse
import sys

import typer

from toolkit.config import add_dataclass_arguments, dataclass_from_namespace
from toolkit.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, via the CLI's UserError handling
        raise UserError(f"train: {message}")


def _registries():
    import toolkit.criterions  # noqa: F401  (registration)
    import toolkit.models  # noqa: F401
    import toolkit.optim  # noqa: F401
    import toolkit.tasks  # noqa: F401
    from toolkit.registry import ARCHITECTURES, CRITERIONS, OPTIMIZERS, SCHEDULERS, TASKS

    return ARCHITECTURES, CRITERIONS, OPTIMIZERS, SCHEDULERS, TASKS


def build_setup(argv: list[str]):
    """Two passes, as fairseq: first the component names, then each component's own options."""
    from toolkit.train.config import TrainConfig
    from toolkit.train.setup import TrainingSetup, import_user_dir

    first = _Parser(add_help=False, allow_abbrev=False)
    add_dataclass_arguments(first, TrainConfig)
    known, _ = first.parse_known_args(argv)
    import_user_dir(known.user_dir)
    archs, criterions, optimizers, schedulers, tasks = _registries()
    arch_entry, arch_defaults = archs.resolve(known.arch)
    components = {
        "criterion": criterions.resolve(known.criterion),
        "optimizer": optimizers.resolve(known.optimizer),
        "lr scheduler": schedulers.resolve(known.lr_scheduler),
        "task": tasks.resolve(known.task),
    }
    parser = _Parser(
        prog="nmt train",
        allow_abbrev=False,
        description=(
            "Train a model on a `nmt preprocess` directory. Rerunning the same command resumes from "
            "checkpoint_last.pt. Architectures: "
            + ", ".join(archs.names())
            + ". Criterions: "
            + ", ".join(criterions.names())
            + ". Optimizers: "
            + ", ".join(optimizers.names())
            + ". LR schedulers: "
            + ", ".join(schedulers.names())
            + "."
        ),
    )
    parser.add_argument("data", help="data directory written by nmt preprocess")
    add_dataclass_arguments(parser.add_argument_group("training"), TrainConfig)
    add_dataclass_arguments(
        parser.add_argument_group(f"model ({arch_entry.name}; defaults of --arch {known.arch})"),
        arch_entry.config_cls,
        arch_defaults,
    )
    for title, (entry, defaults) in components.items():
        if entry.config_cls is not None:
            add_dataclass_arguments(
                parser.add_argument_group(f"{title} ({entry.name})"), entry.config_cls, defaults, skip=("data",)
            )
    args = parser.parse_args(argv)
    train_config = dataclass_from_namespace(TrainConfig, args)
    try:
        train_config.validate()
    except ValueError as error:
        raise UserError(str(error)) from None
    task_entry = components["task"][0]
    return TrainingSetup(
        train=train_config,
        task=dataclass_from_namespace(task_entry.config_cls, args, data=args.data),
        model=dataclass_from_namespace(arch_entry.config_cls, args),
        criterion=dataclass_from_namespace(components["criterion"][0].config_cls, args),
        optimizer=dataclass_from_namespace(components["optimizer"][0].config_cls, args),
        lr_scheduler=dataclass_from_namespace(components["lr scheduler"][0].config_cls, args),
    )


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )
    def train(ctx: typer.Context) -> None:
        """Train a model (Transformer, ...) with checkpoints that resume exactly. See `nmt train --help`."""
        argv = list(ctx.args)
        if not argv or "-h" in argv or "--help" in argv:
            argv = [a for a in argv if a not in ("-h", "--help")]
            build_help(argv)
            return
        from toolkit.train.loop import train as run_training

        summary = run_training(build_setup(argv))
        if summary.stopped_by == "interrupted":
            sys.exit(130)


def build_help(argv: list[str]) -> None:
    try:
        build_setup(argv + ["--help"])
    except SystemExit:
        pass
