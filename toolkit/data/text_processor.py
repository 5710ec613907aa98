"""The preprocessing of one language as one object: raw text <-> BPE'd tokens.

`nmt preprocess` records how it treated each language; `load_text_processors(destdir)`
rebuilds exactly that treatment, and `to_state()` embeds it (BPE codes text included)
in a checkpoint, so generate and interactive translation process new text the same way.
The segmentation is subword-nmt (with codes; without them: none) or characters
(toolkit/data/characters.py); a state records `bpe` only for characters, so states written
before characters existed are unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.data import characters
from toolkit.data.bpe import SEPARATOR, Segmenter
from toolkit.data.dictionary import remove_bpe
from toolkit.data.tokenize import Tokenizer, TokenizerConfig
from toolkit.errors import UserError

STATE_VERSION = 1
SEGMENTATIONS = ("subword-nmt", characters.CHARACTERS)


@dataclass(frozen=True)
class TextProcessorConfig:
    language: str
    tokenize: str = "moses"  # "moses" or "none"
    normalize_punct: bool = True
    escape: bool = False
    aggressive_dash_splits: bool = False
    bpe_codes: str | None = None  # the codes text itself; None: no BPE
    separator: str = SEPARATOR
    bpe: str = "subword-nmt"  # or "characters" (then no codes)

    def __post_init__(self) -> None:
        if self.bpe not in SEGMENTATIONS:
            raise UserError(f"unknown segmentation {self.bpe!r}; choose one of: {', '.join(SEGMENTATIONS)}")
        if self.bpe == characters.CHARACTERS and self.bpe_codes:
            raise UserError("character segmentation takes no BPE codes")

    @property
    def by_characters(self) -> bool:
        return self.bpe == characters.CHARACTERS

    def record(self) -> dict:
        """The fields as a state records them: `bpe` only when it is not the default subword-nmt."""
        out = asdict(self)
        if not self.by_characters:
            del out["bpe"]
        return out


class TextProcessor:
    """encode: raw -> tokenized -> BPE'd; decode: BPE'd -> joined subwords -> detokenized."""

    def __init__(self, config: TextProcessorConfig) -> None:
        self.config = config
        self.tokenizer = Tokenizer(
            TokenizerConfig(
                config.language, config.tokenize, config.normalize_punct, config.escape, config.aggressive_dash_splits
            )
        )
        self.segmenter = Segmenter(config.bpe_codes, config.separator) if config.bpe_codes else None

    @property
    def language(self) -> str:
        return self.config.language

    def tokenize(self, line: str) -> str:
        return self.tokenizer.tokenize(line)

    def detokenize(self, line: str) -> str:
        return self.tokenizer.detokenize(line)

    def apply_bpe(self, tokenized: str) -> str:
        if self.config.by_characters:
            return characters.segment_line(tokenized)
        return self.segmenter.segment_line(tokenized) if self.segmenter else " ".join(tokenized.split())

    def remove_bpe(self, line: str) -> str:
        if self.config.by_characters:
            return characters.join_characters(line)
        # Also without codes of its own: text preprocessed elsewhere (fairseq-style) carries the markers.
        return remove_bpe(line, self.config.separator + " ")

    @property
    def marker(self) -> str:
        """What --remove-bpe names this segmentation: '@@ ' (subword-nmt's joint) or 'characters'."""
        return characters.CHARACTERS if self.config.by_characters else self.config.separator + " "

    def encode(self, line: str) -> str:
        return self.apply_bpe(self.tokenize(line))

    def decode(self, bpe_line: str) -> str:
        return self.detokenize(self.remove_bpe(bpe_line))

    def to_state(self) -> dict:
        return {"version": STATE_VERSION, **self.config.record()}

    @classmethod
    def from_state(cls, state: dict) -> TextProcessor:
        if state.get("version", STATE_VERSION) != STATE_VERSION:
            raise UserError(f"text processor state version {state.get('version')} is not supported")
        fields = {k: v for k, v in state.items() if k in TextProcessorConfig.__dataclass_fields__}
        return cls(TextProcessorConfig(**fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextProcessor) and self.config == other.config

    def __repr__(self) -> str:
        bpe = f"{self.config.bpe_codes.count(chr(10)) - 1} merges" if self.config.bpe_codes else "no BPE"
        bpe = characters.CHARACTERS if self.config.by_characters else bpe
        return f"TextProcessor({self.language}, {self.config.tokenize}, {bpe})"


def codes_filename(language: str, separate: bool) -> str:
    return f"bpecodes.{language}" if separate else "bpecodes"


def load_text_processors(destdir: str | os.PathLike) -> dict[str, TextProcessor]:
    """The processors `nmt preprocess` used for each language of `destdir`."""
    destdir = Path(destdir)
    meta_path = destdir / "preprocess.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{destdir}: no preprocess.json (not made by nmt preprocess)") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{meta_path}: unreadable ({error})") from None
    processors = {}
    for language, state in meta["text_processors"].items():
        state = dict(state)
        codes_file = state.pop("bpe_codes_file", None)
        if codes_file:
            try:
                state["bpe_codes"] = (destdir / codes_file).read_text(encoding="utf-8")
            except OSError as error:
                raise UserError(f"{destdir / codes_file}: unreadable BPE codes ({error})") from None
        processors[language] = TextProcessor.from_state(state)
    return processors


def recorded_text_processors(destdir: str | os.PathLike, languages: list[str]) -> dict[str, dict] | None:
    """The states of `languages`' processors for a checkpoint; None if preprocessing was not recorded.

    A data directory made without nmt preprocess (no preprocess.json, or one without
    text_processors) has nothing to record; one that recorded preprocessing that cannot be
    read fails loudly, so a checkpoint never silently loses its tokenizer and BPE.
    """
    destdir = Path(destdir)
    meta_path = destdir / "preprocess.json"
    if not meta_path.is_file():
        return None
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("text_processors")
    except (OSError, ValueError) as error:
        raise UserError(f"{meta_path}: unreadable ({error})") from None
    if not recorded:
        return None
    processors = load_text_processors(destdir)
    missing = [lang for lang in languages if lang not in processors]
    if missing:
        raise UserError(f"{meta_path}: no text processing recorded for {', '.join(missing)}")
    return {lang: processors[lang].to_state() for lang in languages}
