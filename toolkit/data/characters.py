"""Characters as the model's units: `nmt preprocess --bpe characters` (fairseq's `--bpe characters`).

A tokenized line becomes one unit per character (a Unicode code point, not normalized), units
separated by spaces, and each space becomes the unit ▁ (U+2581), so word boundaries are units too:

    "the cat ."  ->  "t h e ▁ c a t ▁ ."

Every unit is one character except two kinds that stay whole:
- escapes `<U+XXXX>` (the code point in upper-case hex, four digits or more) for the characters
  that cannot be a unit of their own: a literal ▁, which would read back as a space, and every
  whitespace character other than the space (a tab, a no-break space, ...), which would split a
  unit. A literal "<U+2581>" in the text is eight one-character units, never an escape;
- `protected` words (reserved symbols such as <BT>), which are never split.

`join_characters(split_characters(text)) == text` for every string: the units are told apart
by their length alone. Unlike fairseq's, which reads a literal ▁ back as a space, nothing is lost.
A multi-character unit that is no escape (<unk>, <BT>, a padding symbol) reads back as itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CHARACTERS = "characters"  # the name of the segmentation, in --bpe and --remove-bpe
BOUNDARY = "\u2581"  # ▁: the unit of a space between words
_ESCAPE = re.compile(r"<U\+([0-9A-F]{4,6})>")


def _needs_escape(char: str) -> bool:
    return char == BOUNDARY or (char.isspace() and char != " ")


def escape(char: str) -> str:
    """The escape unit of one character: '▁' -> '<U+2581>', a tab -> '<U+0009>'."""
    return f"<U+{ord(char):04X}>"


def _unescaped(unit: str) -> str | None:
    """The character `unit` is the escape of, or None: only what escape() writes counts as one."""
    match = _ESCAPE.fullmatch(unit)
    code = int(match.group(1), 16) if match else 0x110000
    if code > 0x10FFFF:
        return None
    char = chr(code)
    return char if _needs_escape(char) and escape(char) == unit else None


def is_escape(unit: str) -> bool:
    return _unescaped(unit) is not None


def _unit(char: str) -> str:
    if char == " ":
        return BOUNDARY
    return escape(char) if _needs_escape(char) else char


def split_word(word: str, protected: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The units of one word (no space in it): 'cat' -> ('c', 'a', 't'); a protected word stays whole."""
    if word in protected:
        return (word,)
    return tuple(_unit(char) for char in word)


def split_characters(text: str) -> str:
    """Any text as space-separated units, every space a ▁ unit (leading, repeated or trailing ones too)."""
    return " ".join(_unit(char) for char in text)


def segment_line(line: str, protected: frozenset[str] = frozenset()) -> str:
    """A tokenized line as units: its words (split on whitespace) joined by ▁.

    Equals split_characters(" ".join(line.split())) when no word is protected.
    """
    return f" {BOUNDARY} ".join(" ".join(split_word(word, protected)) for word in line.split())


def _char(unit: str) -> str:
    if unit == BOUNDARY:
        return " "
    return (_unescaped(unit) or unit) if len(unit) > 1 else unit


def join_characters(units: str) -> str:
    """Undo split_characters (and segment_line): 'c a t ▁ .' -> 'cat .'."""
    return "".join(_char(unit) for unit in units.split())


def protected_conflicts(symbols: Iterable[str]) -> list[str]:
    """Reserved symbols that would read back as something else under this segmentation."""
    return [s for s in symbols if s == BOUNDARY or is_escape(s)]
