"""Command-line options generated from typed config dataclasses: nmt's one option system.

Each component declares its options once, as dataclass fields (help text, fairseq spellings,
choices and the like in the field metadata); this module turns them into argparse options and
back into configs, so no subcommand lists an option by hand and a checkpoint or an output can
record every value. Every parser built here fails the same way: one `UserError` line that names
the option and the problem, which the entry point prints as `nmt: error: ...` with exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from toolkit.errors import UserError

_UNSET: Any = object()
_METAVARS = {int: "N", float: "X", str: "TEXT"}


class _Missing:
    """The value of a required option the user did not give (checked after parsing)."""

    def __repr__(self) -> str:
        return "(required)"


MISSING: Any = _Missing()


def option(
    default: Any = _UNSET,
    help: str = "",
    *,
    default_factory: Callable[[], Any] | None = None,
    aliases: Sequence[str] = (),
    short: str | None = None,
    choices: Sequence[str] | None = None,
    const: Any = _UNSET,
    positional: bool = False,
    nargs: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A config field and how it reads on the command line.

    aliases: other spellings (fairseq's), e.g. ("--batch-size",); short: e.g. "-s";
    choices: the accepted values (also shown in --help); const: the value of the bare flag, for
    an option whose value is optional (fairseq's `--remove-bpe` means `--remove-bpe '@@ '`);
    positional: an argument without a flag; nargs: "+" for a list given as separate words (a
    list field is otherwise comma-separated).
    """
    metadata = {
        "help": help,
        "aliases": tuple(aliases),
        "short": short,
        "choices": tuple(choices) if choices is not None else None,
        "const": const,
        "positional": positional,
        "nargs": nargs,
        "metavar": metavar,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is _UNSET:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --- parsing ------------------------------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    """At most 80 columns (a pipe, a narrow terminal): option names stay whole on their own line."""

    def __init__(self, prog: str) -> None:
        width = min(shutil.get_terminal_size((80, 24)).columns, 80) - 2
        super().__init__(prog, max_help_position=30, width=max(width, 60))

    def _format_action_invocation(self, action: argparse.Action) -> str:
        """Many spellings (fairseq's aliases) wrap onto further lines instead of running past the edge."""
        text = super()._format_action_invocation(action)
        if len(text) + self._current_indent <= self._width:
            return text
        lines, line = [], ""
        for part in text.split(", "):
            if line and len(line) + len(part) + 2 + self._current_indent > self._width:
                lines.append(line + ",")
                line = part
            else:
                line = f"{line}, {part}" if line else part
        return ("\n" + " " * (self._current_indent + 2)).join([*lines, line])


class OptionParser(argparse.ArgumentParser):
    """An argparse parser whose every complaint is one UserError line (never argparse's exit)."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(prog=prog, **kwargs)

    def format_usage(self) -> str:
        return f"usage: {self._short_usage()}\n"

    def format_help(self) -> str:
        self.usage = self._short_usage()
        return super().format_help()

    def _short_usage(self) -> str:
        """PROG POSITIONALS --required VALUE [options]: the whole list is what --help is for."""
        parts = [self.prog]
        for action in self._actions:
            if not action.option_strings:
                parts.append(action.metavar or action.dest.upper())
            elif action.default is MISSING:
                parts.append(f"{action.option_strings[0]} {action.metavar}")
        return " ".join(parts) + " [options]"

    def error(self, message: str):
        raise UserError(message)  # the entry point adds `nmt: error: SUBCOMMAND: `


class _Toggle(argparse.Action):
    """--flag sets True, --no-flag sets False (the same on every Python version)."""

    def __init__(self, option_strings, dest, default=None, help=None, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, not option_string.startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed) of an annotation like `int | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _scalar_parser(kind: type, optional: bool, choices: tuple[str, ...] | None):
    def parse(text: str):
        if choices is not None and text in choices:  # "none" can be a choice (--bpe none), not "unset"
            return text
        if optional and text.lower() in ("none", ""):
            return None
        if choices is not None:
            value = text.replace("_", "-") if text not in choices else text
            if value not in choices:
                raise argparse.ArgumentTypeError(f"{text!r} is not one of: {', '.join(choices)}")
            return value
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an' if kind is int else 'a'} {kind.__name__}"
            ) from None

    parse.__name__ = kind.__name__
    return parse


def _list_parser(item: type):
    scalar = _scalar_parser(item, False, None)

    def parse(text: str) -> list:
        return [scalar(part) for part in text.split(",") if part.strip()]

    parse.__name__ = f"list of {item.__name__}"
    return parse


def _default_of(field: dataclasses.Field, defaults: Any) -> Any:
    if defaults is not None and hasattr(defaults, field.name):
        return getattr(defaults, field.name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return _UNSET


def _shown(default: Any) -> str:
    if isinstance(default, list):
        return ",".join(map(str, default)) or "none"
    if isinstance(default, str):
        return repr(default) if default.strip() != default or not default else default
    return str(default)


def add_dataclass_arguments(group, config_cls: type, defaults: Any = None, skip: tuple[str, ...] = ()) -> None:
    """Add one option per field of `config_cls`, with defaults from the `defaults` instance."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name in skip:
            continue
        meta = field.metadata
        default = _default_of(field, defaults)
        kind, optional = _base_type(hints[field.name])
        help_text = meta.get("help", "")
        flags = ["--" + field.name.replace("_", "-")]
        if meta.get("short"):
            flags.insert(0, meta["short"])
        flags += [a for a in meta.get("aliases", ()) if a not in flags]
        if meta.get("positional"):
            # Never required at the argparse level: an unknown option is reported before a missing argument.
            group.add_argument(
                field.name,
                type=_scalar_parser(kind, optional, meta.get("choices")),
                nargs=meta.get("nargs") or "?",
                default=MISSING if default is _UNSET else default,
                metavar=meta.get("metavar") or field.name.upper(),
                help=help_text,
            )
        elif kind is bool and field.name.startswith("no_"):
            # A negative name reads best as fairseq spells it: --no-save, with --save to undo it.
            positive = "--" + field.name[3:].replace("_", "-")
            group.add_argument(
                *flags,
                dest=field.name,
                action="store_true",
                default=default,
                help=f"{help_text} (default: {default}; {positive} undoes it)".strip(),
            )
            group.add_argument(positive, dest=field.name, action="store_false", help=argparse.SUPPRESS)
        elif kind is bool:
            negatives = ["--no-" + field.name.replace("_", "-")]
            group.add_argument(
                *flags,
                *negatives,
                dest=field.name,
                action=_Toggle,
                default=default,
                help=f"{help_text} (default: {default})".strip(),
            )
        else:
            list_item = typing.get_args(kind)[0] if typing.get_origin(kind) is list else None
            kwargs: dict[str, Any] = {}
            if list_item is not None and meta.get("nargs"):
                kwargs.update(nargs=meta["nargs"], type=_scalar_parser(list_item, False, None))
            elif list_item is not None:
                kwargs["type"] = _list_parser(list_item)
            else:
                kwargs["type"] = _scalar_parser(kind, optional, meta.get("choices"))
            if meta.get("const", _UNSET) is not _UNSET:
                kwargs.update(nargs="?", const=meta["const"])
            required = default is _UNSET
            choices = meta.get("choices")
            metavar = meta.get("metavar") or ("{" + ",".join(choices) + "}" if choices else None)
            metavar = metavar or _METAVARS.get(list_item or kind, "VALUE")
            suffix = "" if required or default is None else f" (default: {_shown(default)})"
            group.add_argument(
                *flags,
                dest=field.name,
                default=MISSING if required else default,
                metavar=metavar,
                help=f"{help_text}{suffix}".strip(),
                **kwargs,
            )


def check_required(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    """argparse's 'required' message, but only after unknown options have been reported."""
    missing = [
        action.option_strings[0] if action.option_strings else action.metavar
        for action in parser._actions
        if getattr(namespace, action.dest, None) is MISSING
    ]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")


def dataclass_from_namespace(config_cls: type, namespace: argparse.Namespace, **overrides: Any) -> Any:
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(config_cls) if hasattr(namespace, f.name)}
    values.update(overrides)
    return config_cls(**values)
