"""`nmt train`: options generated from the registered components' config dataclasses."""

from __future__ import annotations

import sys

from cli import fairseq_compat
from cli.options import nested_configs
from toolkit.config import MISSING, OptionParser, add_dataclass_arguments, check_required, dataclass_from_namespace
from toolkit.errors import UserError


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

    first = OptionParser("nmt train", add_help=False)
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
    parser = OptionParser(
        "nmt train",
        description=(
            "Train a model on a `nmt preprocess` directory. Rerunning the same command resumes from "
            "checkpoint_last.pt. Architectures: "
            + ", ".join(archs.names())
            + " (fairseq's names: "
            + ", ".join(sorted(archs.aliases))
            + ")"
            + ". Criterions: "
            + ", ".join(criterions.names())
            + ". Optimizers: "
            + ", ".join(optimizers.names())
            + ". LR schedulers: "
            + ", ".join(schedulers.names())
            + "."
        ),
    )
    parser.add_argument(
        "data", nargs="?", default=MISSING, metavar="DATA", help="data directory written by nmt preprocess"
    )
    add_dataclass_arguments(parser.add_argument_group("training"), TrainConfig)
    add_dataclass_arguments(
        parser.add_argument_group(f"model ({arch_entry.name}; defaults of --arch {known.arch})"),
        arch_entry.config_cls,
        arch_defaults,
    )
    for title, (entry, defaults) in components.items():
        if entry.config_cls is not None:
            nested = nested_configs(entry.config_cls)
            add_dataclass_arguments(
                parser.add_argument_group(f"{title} ({entry.name})"),
                entry.config_cls,
                defaults,
                skip=("data", *nested),
            )
            for name, cls in nested.items():
                add_dataclass_arguments(parser.add_argument_group(f"{title} ({entry.name}): {name}"), cls)
    args = parser.parse_args(argv)
    check_required(parser, args)
    train_config = dataclass_from_namespace(TrainConfig, args)
    try:
        train_config.validate()
    except ValueError as error:
        raise UserError(str(error)) from None
    task_entry = components["task"][0]
    nested = nested_configs(task_entry.config_cls)
    task_nested = {name: dataclass_from_namespace(cls, args) for name, cls in nested.items()}
    task_config = dataclass_from_namespace(task_entry.config_cls, args, data=args.data, **task_nested)
    if hasattr(task_config, "validate"):
        try:
            task_config.validate()
        except ValueError as error:
            raise UserError(str(error)) from None
    return TrainingSetup(
        train=train_config,
        task=task_config,
        model=dataclass_from_namespace(arch_entry.config_cls, args),
        criterion=dataclass_from_namespace(components["criterion"][0].config_cls, args),
        optimizer=dataclass_from_namespace(components["optimizer"][0].config_cls, args),
        lr_scheduler=dataclass_from_namespace(components["lr scheduler"][0].config_cls, args),
    )


def run(argv: list[str], prog: str = "nmt train") -> None:
    """Train a model (Transformer, ...) with checkpoints that resume exactly."""
    argv = fairseq_compat.apply("train", argv)
    if not argv or "-h" in argv or "--help" in argv:
        build_help([a for a in argv if a not in ("-h", "--help")])
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
