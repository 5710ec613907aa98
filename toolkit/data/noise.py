"""The noise model C(x) of denoising autoencoding (Lample et al. 2018a): shuffle, drop, blank.

Applied to a right-padded batch (B, L) whose rows end with EOS, in this order:

1. local shuffle: unit i gets the key i + U(0, k + 1) and units are sorted by key, so none
   moves more than k places (and, with k >= 1, some move exactly k);
2. word dropout: each unit is removed with probability p, but never every unit of a sentence
   (when all would go, the one with the highest draw stays);
3. word blanking: each unit is replaced by the mask symbol with probability p (every piece of it).

A unit is a whole word (its BPE pieces, `@@`-continued, move, drop and blank together) or,
with `whole_words=False`, a token. EOS and padding never move or change.

Randomness is a pure function of (seed, update, sentence id, unit): a counter-based hash, not a
generator's state, so a resumed run noises every sentence exactly as the uninterrupted one did,
any batch composition gives a sentence the same noise, and everything stays on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_MASK32 = 0xFFFFFFFF
# Salts keep the three operations' draws independent of each other.
_SHUFFLE, _DROP, _BLANK = 0x5EED01, 0x5EED02, 0x5EED03


def _mix(h: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (two multiply-xorshift rounds) on int64 values below 2**32.

    The multiplier is below 2**27, so products stay below 2**59: no signed overflow anywhere.
    """
    h = ((h >> 16) ^ h) * 0x45D9F3B & _MASK32
    h = ((h >> 16) ^ h) * 0x45D9F3B & _MASK32
    return (h >> 16) ^ h


def uniform(seed: int, update: int, sentences: torch.Tensor, units: torch.Tensor, salt: int) -> torch.Tensor:
    """Draws in [0, 1), one per (sentence, unit): sentences (B, 1) and units (1, L) broadcast to (B, L)."""
    h = _mix(torch.full_like(sentences, (seed ^ salt) & _MASK32))
    h = _mix((h + (update & _MASK32)) & _MASK32)
    h = _mix((h + (sentences & _MASK32)) & _MASK32)
    h = _mix((h + (units & _MASK32)) & _MASK32)
    return (h >> 8).to(torch.float32) / float(1 << 24)  # 24 bits: exact in float32, never 1.0


@dataclass(frozen=True)
class NoiseConfig:
    shuffle_distance: float = 3.0  # k; 0 = no shuffle
    dropout: float = 0.1
    blank: float = 0.1
    whole_words: bool = True

    def validate(self) -> None:
        if self.shuffle_distance < 0:
            raise ValueError(f"--word-shuffle must be >= 0, got {self.shuffle_distance}")
        for name, value in (("--word-dropout", self.dropout), ("--word-blank", self.blank)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")


def continuation_mask(symbols: list[str], bpe_marker: str = "@@") -> torch.Tensor:
    """(V,) bool: which dictionary symbols continue into the next token (subword-nmt's `@@` pieces)."""
    return torch.tensor([symbol.endswith(bpe_marker) for symbol in symbols], dtype=torch.bool)


class Noise:
    """C(x) on batches of one dictionary: `noise(tokens, lengths, sentence_ids, update)`."""

    def __init__(
        self, config: NoiseConfig, pad_index: int, eos_index: int, mask_index: int, continues: torch.Tensor, seed: int
    ) -> None:
        config.validate()
        self.config = config
        self.pad_index, self.eos_index, self.mask_index = pad_index, eos_index, mask_index
        self.continues = continues
        self.seed = seed

    def units(self, tokens: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """(B, L) unit index of every content token (words or tokens), counted from 0 in each row."""
        if not self.config.whole_words:
            return torch.arange(tokens.size(1), device=tokens.device).expand_as(tokens)
        continues = self.continues.to(tokens.device)[tokens] & content
        starts = torch.ones_like(content)
        starts[:, 1:] = ~continues[:, :-1]  # a token starts a word unless the one before continues
        return (starts & content).long().cumsum(1) - 1

    def __call__(
        self, tokens: torch.Tensor, lengths: torch.Tensor, sentence_ids: torch.Tensor, update: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L) with EOS last in each row, lengths (B,), sentence_ids (B,) -> (noised tokens, lengths)."""
        c = self.config
        positions = torch.arange(tokens.size(1), device=tokens.device)[None, :]
        content = positions < (lengths[:, None] - 1)  # everything before the final EOS
        unit = self.units(tokens, content).clamp(min=0)
        ids = sentence_ids.to(tokens.device).long()[:, None]
        units = torch.arange(tokens.size(1), device=tokens.device)[None, :]

        def draw(salt: int) -> torch.Tensor:  # one draw per (sentence, unit), read at each token
            return uniform(self.seed, update, ids, units, salt).gather(1, unit)

        # 1. Shuffle: sort by the unit's key; pieces of a word keep their order (position breaks ties),
        # EOS and padding sort after every content token in their original order.
        if c.shuffle_distance > 0:
            key = unit.to(torch.float64) + (c.shuffle_distance + 1) * draw(_SHUFFLE).to(torch.float64)
            key = torch.where(content, key, tokens.size(1) * (c.shuffle_distance + 2) + positions.double())
            order = torch.argsort(key, dim=1, stable=True)
            tokens, unit = tokens.gather(1, order), unit.gather(1, order)
        # 2. Drop: remove units, keeping at least one per sentence (the unit with the highest draw).
        if c.dropout > 0:
            u = draw(_DROP)
            real = positions < lengths[:, None]
            keep = ((u >= c.dropout) & content) | (real & ~content)  # EOS stays, padding goes to the end
            nothing_left = ~(keep & content).any(1) & content.any(1)
            if bool(nothing_left.any()):
                best = torch.where(content, u, torch.full_like(u, -1.0)).amax(1, keepdim=True)
                keep = keep | (nothing_left[:, None] & content & (u == best))
            order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept tokens first, in order
            tokens, unit = tokens.gather(1, order), unit.gather(1, order)
            lengths = keep.sum(1)
            tokens = torch.where(positions < lengths[:, None], tokens, torch.full_like(tokens, self.pad_index))
            content = positions < (lengths[:, None] - 1)
        # 3. Blank: replace every piece of a chosen unit by the mask symbol.
        if c.blank > 0:
            blanked = (draw(_BLANK) < c.blank) & content
            tokens = torch.where(blanked, torch.full_like(tokens, self.mask_index), tokens)
        width = int(lengths.max()) if lengths.numel() else 0
        return tokens[:, :width], lengths
