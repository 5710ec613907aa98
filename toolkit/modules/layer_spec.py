"""Readable layer specs in fairseq's spelling, parsed without `eval`.

A convolution stack is written as Python-like list arithmetic over (dim, kernel width) tuples:

    "[(256, 3)] * 4"                                    four layers of 256 channels, width 3
    "[(512, 3)] * 9 + [(1024, 3)] * 4 + [(2048, 1)] * 2"
    "[(256, 3), (256, 5)]"

and the decoder's attention per layer as "True", "False" or a list such as "[True, False] * 2".
Only integers, True/False, brackets, parentheses, commas, `*` and `+` are read: anything else is
a one-line ValueError naming the option and the spec, never code that runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<bool>True|False)|(?P<punct>[\[\](),*+]))")
MAX_LAYERS = 1000  # far beyond any published stack; stops "[(8, 3)] * 10**9" from filling memory


class _SpecError(Exception):
    pass


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, position, text = [], 0, text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _SpecError(f"unexpected {text[position:].strip()[:20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        tokens.append((kind, int(value) if kind == "int" else value == "True" if kind == "bool" else value))
        position = match.end()
    return tokens


class _Parser:
    """expr := term ('+' term)*;  term := [int '*'] list ('*' int)*;  list := '[' items? ']'."""

    def __init__(self, text: str, item: Callable[[_Parser], Any]) -> None:
        self.tokens, self.at, self.item = _tokenize(text), 0, item

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = "the end" if token is None else repr(str(token[1]))
            raise _SpecError(f"expected {value or kind} but found {found}")
        self.at += 1
        return token[1]

    def accept(self, value: str) -> bool:
        if self.peek() == ("punct", value):
            self.at += 1
            return True
        return False

    def expression(self) -> list:
        items = self.term()
        while self.accept("+"):
            items = items + self.term()
            _check_size(len(items))
        if self.peek() is not None:
            raise _SpecError(f"unexpected {str(self.peek()[1])!r}")
        return items

    def term(self) -> list:
        repeat = 1
        if self.peek() is not None and self.peek()[0] == "int":
            repeat = self.take("int")
            self.take("punct", "*")
        items = self.list()
        while self.accept("*"):
            repeat *= self.take("int")
            _check_size(repeat * len(items))
        _check_size(repeat * len(items))
        return items * repeat

    def list(self) -> list:
        self.take("punct", "[")
        items = []
        while not self.accept("]"):
            items.append(self.item(self))
            if not self.accept(","):
                self.take("punct", "]")
                break
        return items


def _check_size(count: int) -> None:
    if count > MAX_LAYERS:
        raise _SpecError(f"{count} layers (at most {MAX_LAYERS})")


def _conv_item(parser: _Parser) -> tuple[int, int]:
    parser.take("punct", "(")
    dim = parser.take("int")
    parser.take("punct", ",")
    kernel = parser.take("int")
    parser.accept(",")
    parser.take("punct", ")")
    if dim < 1 or kernel < 1:
        raise _SpecError(f"({dim}, {kernel}): dim and kernel width must be at least 1")
    return dim, kernel


def _bool_item(parser: _Parser) -> bool:
    return parser.take("bool")


def parse_conv_layers(text: str, option: str) -> list[tuple[int, int]]:
    """A convolution stack spec -> [(dim, kernel width), ...]; ValueError (one line) if it is not one."""
    try:
        layers = _Parser(text, _conv_item).expression()
        if not layers:
            raise _SpecError("no layers")
        return layers
    except _SpecError as error:
        raise ValueError(
            f'{option} {text!r} is not a layer spec ({error}); write e.g. "[(256, 3)] * 4 + [(512, 3)] * 2"'
        ) from None


def parse_attention(text: str, layers: int, option: str) -> list[bool]:
    """'True', 'False' or a list of booleans (with * and +) -> one flag per layer; ValueError otherwise."""
    try:
        parser = _Parser(text, _bool_item)
        if parser.peek() is not None and parser.peek()[0] == "bool" and len(parser.tokens) == 1:
            return [parser.take("bool")] * layers
        flags = parser.expression()
        if len(flags) != layers:
            raise _SpecError(f"{len(flags)} flags for {layers} decoder layers")
        return flags
    except _SpecError as error:
        raise ValueError(
            f'{option} {text!r} is not an attention spec ({error}); write True or e.g. "[True, False] * 2"'
        ) from None
