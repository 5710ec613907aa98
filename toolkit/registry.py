"""One small generic registry: components register themselves by decorator.

A registry maps a name to a component class and its typed config dataclass.
Architectures also have *presets*: pure functions that return a config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from toolkit.errors import UserError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    name: str
    cls: type
    config_cls: type | None
    help: str = ""


@dataclass
class Registry:
    """Named components of one kind (architectures, criterions, optimizers, ...)."""

    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)
    presets: dict[str, tuple[str, Callable[[], Any]]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # another toolkit's name -> ours

    def register(self, name: str, config: type | None = None, help: str = "") -> Callable[[type], type]:
        def decorator(cls: type) -> type:
            if name in self.entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            doc = help or ((cls.__doc__ or "").strip().splitlines() or [""])[0]
            self.entries[name] = Entry(name, cls, config, doc)
            return cls

        return decorator

    def register_preset(self, name: str, base: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Register a function returning a config for the component `base`."""

        def decorator(fn: Callable[[], Any]) -> Callable[[], Any]:
            if name in self.presets or (name in self.entries and name != base):
                raise ValueError(f"{self.kind} preset {name!r} is already registered")
            self.presets[name] = (base, fn)
            return fn

        return decorator

    def register_alias(self, alias: str, target: str) -> None:
        """Another toolkit's name (fairseq's) for one of ours, with the same configuration."""
        if alias in self.aliases or alias in self.presets or alias in self.entries:
            raise ValueError(f"{self.kind} name {alias!r} is already registered")
        self.aliases[alias] = target

    def names(self) -> list[str]:
        """All selectable names: components and presets, sorted."""
        return sorted(set(self.entries) | set(self.presets))

    def resolve(self, name: str) -> tuple[Entry, Any]:
        """Return (entry, default config) for a component, preset or alias name."""
        name = self.aliases.get(name, name)
        if name in self.presets:
            base, fn = self.presets[name]
            return self.entries[base], fn()
        if name in self.entries:
            entry = self.entries[name]
            return entry, entry.config_cls() if entry.config_cls is not None else None
        also = f" (or fairseq's {', '.join(sorted(self.aliases))})" if self.aliases else ""
        raise UserError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}{also}")

    def get(self, name: str) -> Entry:
        return self.resolve(name)[0]


def config_to_dict(config: Any) -> dict:
    """A dataclass config as plain data (safe for weights_only checkpoints and JSON)."""
    return dataclasses.asdict(config)


def config_from_dict(config_cls: type, values: dict) -> Any:
    """Rebuild a config dataclass (and those nested in it), ignoring unknown keys (forward compatibility)."""
    import typing

    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for f in dataclasses.fields(config_cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if dataclasses.is_dataclass(hints.get(f.name)) and isinstance(value, dict):
            value = config_from_dict(hints[f.name], value)
        kwargs[f.name] = value
    return config_cls(**kwargs)


ARCHITECTURES = Registry("architecture")
CRITERIONS = Registry("criterion")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("lr scheduler")
TASKS = Registry("task")
