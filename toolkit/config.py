"""Command-line options generated from typed config dataclasses.

Each component declares its options once, as dataclass fields (help text in the field
metadata); this module turns them into argparse options and back into configs, so the
CLI never lists an option by hand and a checkpoint carries every value.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def option(default: Any, help: str) -> Any:
    """A config field with its --help text (mutable defaults are not supported)."""
    return dataclasses.field(default=default, metadata={"help": help})


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(the scalar type, whether None is allowed) of an annotation like `int | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _parser_for(kind: type, optional: bool):
    def parse(text: str):
        if optional and text.lower() in ("none", ""):
            return None
        return kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_dataclass_arguments(group, config_cls: type, defaults: Any = None, skip: tuple[str, ...] = ()) -> None:
    """Add one --option per field of `config_cls`, with defaults from the `defaults` instance."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = (
            getattr(defaults, field.name)
            if defaults is not None
            else (field.default if field.default is not dataclasses.MISSING else field.default_factory())
        )
        kind, optional = _base_type(hints[field.name])
        help_text = field.metadata.get("help", "")
        if kind is bool and field.name.startswith("no_"):
            # A negative name reads best as fairseq spells it: --no-save, with --save to undo it.
            positive = "--" + field.name[3:].replace("_", "-")
            group.add_argument(
                flag,
                dest=field.name,
                action="store_true",
                default=default,
                help=f"{help_text} (default: {default}; {positive} undoes it)".strip(),
            )
            group.add_argument(positive, dest=field.name, action="store_false", help=argparse.SUPPRESS)
        elif kind is bool:
            group.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{help_text} (default: {default})".strip(),
            )
        else:
            group.add_argument(
                flag,
                dest=field.name,
                type=_parser_for(kind, optional),
                default=default,
                metavar=kind.__name__.upper(),
                help=f"{help_text} (default: {default})".strip(),
            )


def dataclass_from_namespace(config_cls: type, namespace: argparse.Namespace, **overrides: Any) -> Any:
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(config_cls) if hasattr(namespace, f.name)}
    values.update(overrides)
    return config_cls(**values)
