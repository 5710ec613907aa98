"""The typed configuration of search, filled once by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import UserError


@dataclass
class SearchConfig:
    beam: int = 5
    nbest: int = 1
    max_len_a: float = 0.0
    max_len_b: int = 200
    min_len: int = 1
    lenpen: float = 1.0
    unkpen: float = 0.0
    no_repeat_ngram_size: int = 0
    sampling: bool = False
    sampling_topk: int = -1
    sampling_topp: float = -1.0
    temperature: float = 1.0

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
