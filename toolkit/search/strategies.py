"""Search strategies: one step of choosing candidate continuations.

A strategy sees the log-probabilities of every live hypothesis and returns candidates;
the driver (generator.py) decides which of them finish and which stay in the beam.

    step(step, lprobs (B, K, V), scores (B, K, step)) -> (cand_scores, cand_tokens, cand_beams)

`scores` holds cumulative scores (column step-1 is the current total); candidates have
shape (B, C) with cumulative scores, sorted best first for beam search.
"""

from __future__ import annotations

import torch


class Search:
    """Base class: `num_candidates` is C, the width of what `step` returns."""

    def __init__(self, beam_size: int) -> None:
        self.beam_size = beam_size

    @property
    def num_candidates(self) -> int:
        raise NotImplementedError

    def step(
        self, step: int, lprobs: torch.Tensor, scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class BeamSearch(Search):
    """Keep the 2K best continuations so K survive even if K of them end in EOS; K = 1 is greedy."""

    @property
    def num_candidates(self) -> int:
        return 2 * self.beam_size

    def step(self, step: int, lprobs: torch.Tensor, scores: torch.Tensor):
        # Two stages: a beam's cumulative score shifts all its continuations alike, so the
        # sentence's 2K best lie among each beam's own 2K best (one pass over the vocabulary).
        row_scores, row_tokens = lprobs.topk(min(self.num_candidates, lprobs.size(2)), dim=2)
        return self.step_rows(step, row_scores, row_tokens, scores)

    def step_rows(self, step: int, row_scores: torch.Tensor, row_tokens: torch.Tensor, scores: torch.Tensor):
        """The second stage alone, from each hypothesis's best continuations (B, K, k') and their tokens."""
        bsz, _, per_row = row_scores.shape
        if step == 0:
            # Every beam starts identical: expand only the first, or K copies would fill the beam.
            row_scores, row_tokens = row_scores[:, :1], row_tokens[:, :1]
        else:
            row_scores = row_scores + scores[:, :, step - 1].unsqueeze(-1)
        flat = row_scores.reshape(bsz, -1)
        k = min(self.num_candidates, flat.size(1))
        cand_scores, picked = flat.topk(k, dim=1)
        cand_tokens = row_tokens.reshape(bsz, -1).gather(1, picked)
        cand_beams = torch.div(picked, per_row, rounding_mode="floor")
        if k < self.num_candidates:  # tiny vocabularies: pad with dead candidates
            fill = self.num_candidates - k
            cand_scores = torch.cat([cand_scores, cand_scores.new_full((bsz, fill), float("-inf"))], 1)
            cand_tokens = torch.cat([cand_tokens, cand_tokens.new_zeros(bsz, fill)], 1)
            cand_beams = torch.cat([cand_beams, cand_beams.new_zeros(bsz, fill)], 1)
        return cand_scores, cand_tokens, cand_beams


def top_k_top_p_filter(lprobs: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Set to -inf every token outside the k most likely and outside the nucleus of mass p.

    lprobs (N, V). top_k <= 0 and top_p <= 0 (or >= 1) disable the respective filter.
    The most likely token always survives.
    """
    if top_k > 0 and top_k < lprobs.size(-1):
        kth = lprobs.topk(top_k, dim=-1).values[:, -1:]
        lprobs = lprobs.masked_fill(lprobs < kth, float("-inf"))
    if 0 < top_p < 1:
        sorted_lp, order = lprobs.sort(dim=-1, descending=True)
        mass_before = sorted_lp.exp().cumsum(dim=-1) - sorted_lp.exp()
        drop_sorted = mass_before >= top_p  # keep the smallest prefix whose mass reaches p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        lprobs = lprobs.masked_fill(drop, float("-inf"))
    return lprobs


class Sampling(Search):
    """Sample each hypothesis' next token (K independent samples per sentence)."""

    def __init__(
        self, beam_size: int, top_k: int = -1, top_p: float = -1.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(beam_size)
        self.top_k, self.top_p, self.generator = top_k, top_p, generator

    @property
    def num_candidates(self) -> int:
        return self.beam_size

    def step(self, step: int, lprobs: torch.Tensor, scores: torch.Tensor):
        bsz, beam, vocab = lprobs.shape
        filtered = top_k_top_p_filter(lprobs.reshape(-1, vocab), self.top_k, self.top_p)
        probs = filtered.float().exp()
        # Rows with no mass left (dead hypotheses, everything banned) draw a harmless token.
        empty = probs.sum(-1) <= 0
        probs[empty] = 1.0
        if step == 0:
            # K samples of the first token, all from the (identical) first beam.
            first = probs.view(bsz, beam, vocab)[:, 0]
            tokens = torch.multinomial(first, beam, replacement=True, generator=self.generator)
            beams = tokens.new_zeros(bsz, beam)
            token_lp = lprobs[:, 0].gather(1, tokens)
            dead = empty.view(bsz, beam)[:, :1].expand(bsz, beam)
        else:
            tokens = torch.multinomial(probs, 1, generator=self.generator).view(bsz, beam)
            beams = torch.arange(beam, device=lprobs.device).expand(bsz, beam)
            token_lp = lprobs.gather(2, tokens.unsqueeze(-1)).squeeze(-1) + scores[:, :, step - 1]
            dead = empty.view(bsz, beam)
        return token_lp.masked_fill(dead, float("-inf")), tokens, beams
