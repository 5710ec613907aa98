"""A subcommand's whole parser from its config dataclass (and the dataclasses nested in it)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from cli import fairseq_compat
from toolkit.config import OptionParser, add_dataclass_arguments, check_required, dataclass_from_namespace
from toolkit.errors import UserError


def nested_configs(config_cls: type | None) -> dict[str, type]:
    """Fields whose type is itself a config dataclass (SearchConfig inside GenerateConfig)."""
    if config_cls is None:
        return {}
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls) if dataclasses.is_dataclass(hints[f.name])}


def build_parser(prog: str, description: str, config_cls: type) -> OptionParser:
    parser = OptionParser(prog, description=description)
    nested = nested_configs(config_cls)
    add_dataclass_arguments(parser, config_cls, skip=tuple(nested))
    for name, cls in nested.items():
        add_dataclass_arguments(parser.add_argument_group(f"{name} options"), cls)
    return parser


def parse_command(prog: str, description: str, config_cls: type, argv: Sequence[str]) -> Any:
    """fairseq's flags noted or refused, then argv parsed into `config_cls` and validated."""
    command = prog.removeprefix("nmt").strip()
    argv = fairseq_compat.apply(command, list(argv))
    parser = build_parser(prog, description, config_cls)
    namespace = parser.parse_args(argv)
    check_required(parser, namespace)
    nested = {name: dataclass_from_namespace(cls, namespace) for name, cls in nested_configs(config_cls).items()}
    config = dataclass_from_namespace(config_cls, namespace, **nested)
    if hasattr(config, "validate"):
        try:
            config.validate()
        except ValueError as error:
            raise UserError(str(error)) from None
    return config
