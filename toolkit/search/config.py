"""The typed configuration of search, filled once by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.config import option
from toolkit.data.characters import CHARACTERS
from toolkit.errors import UserError


@dataclass
class SearchConfig:
    """Search options shared by `nmt generate` and `nmt translate`."""

    beam: int = option(5, "beam size (1 = greedy)")
    nbest: int = option(1, "hypotheses to output per sentence (at most --beam)")
    max_len_a: float = option(0.0, "maximum output length is a * source length + b")
    max_len_b: int = option(200, "see --max-len-a (capped by the model's maximum positions)")
    min_len: int = option(1, "minimum number of tokens before EOS")
    lenpen: float = option(1.0, "scores are divided by length ** lenpen (0: raw sum)")
    unkpen: float = option(0.0, "subtracted from the log-probability of <unk>")
    no_repeat_ngram_size: int = option(0, "never repeat an n-gram of this size (0: off)")
    sampling: bool = option(False, "sample instead of beam search (--beam samples per sentence)")
    sampling_topk: int = option(-1, "sample only among the k most likely tokens (-1: all)")
    sampling_topp: float = option(-1.0, "sample only from the smallest set of tokens with mass p (-1: off)")
    temperature: float = option(1.0, "divide log-probabilities by this before search")

    def validate(self) -> SearchConfig:
        if self.beam < 1:
            raise UserError(f"--beam must be at least 1 (got {self.beam})")
        if not 1 <= self.nbest <= self.beam:
            raise UserError(f"--nbest must be between 1 and --beam ({self.beam}); got {self.nbest}")
        if self.temperature <= 0:
            raise UserError(f"--temperature must be positive (got {self.temperature})")
        if self.max_len_a < 0 or self.max_len_b < 0:
            raise UserError("--max-len-a and --max-len-b must not be negative")
        if self.min_len < 0:
            raise UserError(f"--min-len must not be negative (got {self.min_len})")
        if self.no_repeat_ngram_size < 0:
            raise UserError("--no-repeat-ngram-size must not be negative")
        if self.sampling_topp > 1:
            raise UserError(f"--sampling-topp must be in (0, 1] (got {self.sampling_topp})")
        if not self.sampling and (self.sampling_topk > 0 or self.sampling_topp > 0):
            raise UserError("--sampling-topk/--sampling-topp need --sampling")
        return self


_OTHER_SEGMENTERS = ("sentencepiece", "wordpiece", "letter", "_EOW", "silence")


def bpe_marker(value: str | None) -> str | None:
    """The marker --remove-bpe removes: its value, None for 'none', or what fairseq's names mean.

    'characters' names the character segmentation (nmt preprocess --bpe characters). On a side
    segmented into characters, subword-nmt's '@@ ' (the default) means it too: see output.side_marker.
    """
    if value is None or value.strip().lower() in ("", "none", "no"):
        return None
    if value in ("subword_nmt", "subword-nmt"):  # fairseq's name for the default
        return "@@ "
    if value == CHARACTERS:
        return CHARACTERS
    if value in _OTHER_SEGMENTERS:
        raise UserError(
            f"--remove-bpe {value}: nmt segments with subword-nmt or characters; give its marker, e.g. '@@ ', "
            "or characters"
        )
    return value
