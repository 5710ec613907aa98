"""Word tokenization: Moses punctuation normalization + tokenization (sacremoses), or none.

Defaults follow the common Moses recipe for NMT: no XML escaping (`escape=False`) and no
aggressive dash splitting, so tokens stay readable and detokenization round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from toolkit.errors import UserError

TOKENIZERS = ("moses", "none")


@dataclass(frozen=True)
class TokenizerConfig:
    language: str
    method: str = "moses"  # "moses" or "none" (input already tokenized: whitespace split)
    normalize_punct: bool = True
    escape: bool = False
    aggressive_dash_splits: bool = False

    def __post_init__(self) -> None:
        if self.method not in TOKENIZERS:
            raise UserError(f"unknown tokenizer {self.method!r}; choose one of: {', '.join(TOKENIZERS)}")


@cache
def _moses(language: str):
    from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer

    return MosesPunctNormalizer(lang=language), MosesTokenizer(lang=language), MosesDetokenizer(lang=language)


class Tokenizer:
    """Turns one raw line into one line of space-separated tokens, and back."""

    def __init__(self, config: TokenizerConfig) -> None:
        self.config = config
        if config.method == "moses":
            self._normalizer, self._tokenizer, self._detokenizer = _moses(config.language)

    def tokenize(self, line: str) -> str:
        if self.config.method == "none":
            return " ".join(line.split())
        if self.config.normalize_punct:
            line = self._normalizer.normalize(line)
        return self._tokenizer.tokenize(
            line,
            escape=self.config.escape,
            aggressive_dash_splits=self.config.aggressive_dash_splits,
            return_str=True,
        ).strip()

    def detokenize(self, line: str) -> str:
        if self.config.method == "none":
            return line
        return self._detokenizer.detokenize(line.split(), unescape=self.config.escape)
