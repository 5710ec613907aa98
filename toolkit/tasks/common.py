"""What the tasks share: opening a preprocess directory, its languages, one joined dictionary, its text processors."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.data.dictionary import Dictionary
from toolkit.errors import UserError


def checked_data_dir(config) -> Path:
    """A task config's `data` directory, once it exists and the config validates (one UserError line if not)."""
    data_dir = Path(config.data)
    if not data_dir.is_dir():
        raise UserError(f"data directory not found: {data_dir}")
    try:
        config.validate()
    except ValueError as error:
        raise UserError(str(error)) from None
    return data_dir


def data_text_processor(data_dir: Path, lang: str):
    """The TextProcessor preprocess recorded in `data_dir` for `lang`, or None."""
    from toolkit.data.text_processor import TextProcessor, recorded_text_processors

    states = recorded_text_processors(data_dir, [lang])
    return TextProcessor.from_state(states[lang]) if states else None


def read_meta(data_dir: Path) -> dict:
    path = data_dir / "preprocess.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: unreadable ({error})") from None


def task_languages(data_dir: Path, given: str, flag: str = "--langs") -> list[str]:
    """The languages, in id order: `given` ('en,fr' or XLM's 'en-fr'), else the pair preprocess recorded."""
    langs = [lang.strip() for lang in given.replace("-", ",").split(",") if lang.strip()]
    if not langs:
        recorded = read_meta(data_dir).get("config", {})
        langs = [lang for lang in (recorded.get("source_lang"), recorded.get("target_lang")) if lang]
    if len(langs) < 2:
        raise UserError(f"{data_dir}: cannot tell the two languages; pass {flag} A,B")
    if len(set(langs)) != len(langs):
        raise UserError(f"{flag} {given!r} names a language twice")
    return langs


def joined_dictionary(data_dir: Path, langs: list[str]) -> Dictionary:
    """The one dictionary every language shares (preprocess --joined-dictionary); one line if not."""
    dictionaries = []
    for lang in langs:
        path = data_dir / f"dict.{lang}.txt"
        if not path.is_file():
            raise UserError(f"{data_dir}: missing dictionary dict.{lang}.txt (run nmt preprocess)")
        dictionaries.append(Dictionary.load(path))
    if any(d != dictionaries[0] for d in dictionaries[1:]):
        raise UserError(
            f"{data_dir}: dict.{langs[0]}.txt and dict.{langs[1]}.txt differ; the languages must share one "
            "vocabulary (preprocess with --joined-dictionary)"
        )
    return dictionaries[0]


def symbol_index(dictionary: Dictionary, symbol: str, data_dir: Path, why: str) -> int:
    index = dictionary.index(symbol)
    if index == dictionary.unk_index:
        raise UserError(f"{data_dir}: the dictionary has no {symbol} symbol, needed {why} (preprocess with "
                        f"--extra-symbols '{symbol}')")  # fmt: skip
    return index


def first_text_symbol(dictionary: Dictionary) -> int:
    """The index of the first learned symbol: after <s> <pad> </s> <unk> and the reserved <...> symbols."""
    index = dictionary.nspecial
    while index < len(dictionary) and dictionary[index].startswith("<") and dictionary[index].endswith(">"):
        index += 1
    return min(index, len(dictionary) - 1)
