"""Dataclass configs become command-line flags: types, defaults and boolean spellings."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from toolkit.config import add_dataclass_arguments, dataclass_from_namespace, option


@dataclass
class _Example:
    steps: int = option(3, "how many")
    rate: float = 0.5
    bias: bool = option(True, "add a bias")
    no_save: bool = option(False, "write nothing")


def _parse(*argv: str) -> _Example:
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, _Example)
    return dataclass_from_namespace(_Example, parser.parse_args(list(argv)))


def test_defaults_and_types_come_from_the_dataclass():
    assert _parse() == _Example()
    parsed = _parse("--steps", "7", "--rate", "0.25")
    assert (parsed.steps, parsed.rate) == (7, 0.25)


def test_booleans_have_a_positive_and_a_negative_spelling():
    assert _parse("--no-bias").bias is False
    assert _parse("--bias").bias is True


def test_negative_field_names_read_as_fairseq_spells_them():
    assert _parse("--no-save").no_save is True
    assert _parse("--no-save", "--save").no_save is False
    with pytest.raises(SystemExit):
        _parse("--no-no-save")


def test_help_text_and_default_appear_in_help():
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, _Example)
    text = " ".join(parser.format_help().split())
    assert "how many (default: 3)" in text
    assert "write nothing (default: False; --save undoes it)" in text
