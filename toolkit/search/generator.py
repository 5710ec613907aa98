"""The search driver: batched, incremental, through the model interface only.

One loop serves every architecture and every strategy (beam, greedy, sampling):
each step (1) runs the decoder once for all live hypotheses, (2) applies constraints,
(3) asks the strategy for candidates, (4) finalizes those that end in EOS, (5) drops
finished sentences from the batch and (6) keeps the K best unfinished candidates.
Per-sentence constraints (a decoder start token, a length cap, language ids) are tensors
carried with the hypotheses, reordered with the beam and dropped with finished sentences.
Shapes: B live sentences, K beam, N = B*K live hypotheses, S source, V vocabulary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from toolkit.search.config import SearchConfig
from toolkit.search.ensemble import Ensemble
from toolkit.search.hypothesis import Hypothesis, hard_alignment
from toolkit.search.length_penalty import normalize_score
from toolkit.search.ngram import block_repeated_ngrams
from toolkit.search.strategies import BeamSearch, Sampling, Search

NEG_INF = float("-inf")


def build_strategy(config: SearchConfig, generator: torch.Generator | None = None) -> Search:
    if config.sampling:
        return Sampling(config.beam, config.sampling_topk, config.sampling_topp, generator)
    return BeamSearch(config.beam)


def per_sentence(name: str, value: torch.Tensor | None, bsz: int, device: torch.device) -> torch.Tensor | None:
    """A per-sentence argument as a (B,) tensor on `device`, or None; any other shape is the caller's bug."""
    if value is None:
        return None
    if value.shape != (bsz,):
        raise ValueError(f"{name} must have shape ({bsz},), one value per sentence; got {tuple(value.shape)}")
    return value.to(device)


class SequenceGenerator:
    """Translate right-padded source batches with one model or an ensemble."""

    def __init__(
        self,
        models: Any | Sequence[Any],
        config: SearchConfig,
        unk_index: int = 3,
        bf16: bool = False,
        need_attn: bool = True,
        rng: torch.Generator | None = None,
    ) -> None:
        self.model = (
            models
            if isinstance(models, Ensemble)
            else Ensemble(models if isinstance(models, (list, tuple)) else [models])
        )
        self.config = config.validate()
        self.search = build_strategy(config, rng)
        self.pad, self.eos, self.unk = self.model.pad_index, self.model.eos_index, unk_index
        self.bf16, self.need_attn = bf16, need_attn

    def _autocast(self, device: torch.device):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def length_caps(self, src_lengths: torch.Tensor, max_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) on src_lengths' device: the most tokens each sentence may have before the forced EOS.

        The least of max_len_a * src_len + max_len_b, `max_lengths` (B,) when given, and what
        the model's target positions allow (one goes to the start token).
        """
        cap = self.model.max_positions()[1] - 1
        # float64 (on the host, as every backend has it): a * len + b must not round below an integer it equals.
        lengths = (self.config.max_len_a * src_lengths.cpu().double() + self.config.max_len_b).long()
        lengths = lengths.to(src_lengths.device)
        if max_lengths is not None:
            lengths = torch.minimum(lengths, max_lengths.to(lengths.device, torch.long))
        return lengths.clamp(min=0, max=cap)

    @torch.no_grad()
    def generate(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        *,
        bos_tokens: torch.Tensor | None = None,
        max_lengths: torch.Tensor | None = None,
        src_lang: torch.Tensor | None = None,
        tgt_lang: torch.Tensor | None = None,
    ) -> list[list[Hypothesis]]:
        """src_tokens (B, S) right-padded; returns per sentence its nbest hypotheses, best first.

        Optional per-sentence constraints, each (B,):
          bos_tokens: the decoder's first input instead of EOS (e.g. a target-language tag
            `<2en>`); it is never part of the returned tokens.
          max_lengths: at most this many tokens before the final EOS (0: EOS alone), on top
            of the --max-len-a/--max-len-b cap and the model's maximum positions.
          src_lang, tgt_lang: language ids for the models' `encode` and `decode_step`.
        """
        bsz, device = src_tokens.size(0), src_tokens.device
        start = per_sentence("bos_tokens", bos_tokens, bsz, device)
        if start is None:
            start = torch.full((bsz,), self.eos, dtype=torch.long, device=device)
        caps = self.length_caps(src_lengths, per_sentence("max_lengths", max_lengths, bsz, device)).to(device)
        src_lang = per_sentence("src_lang", src_lang, bsz, device)
        tgt_lang = per_sentence("tgt_lang", tgt_lang, bsz, device)
        with self._autocast(device):
            finalized = self._search(src_tokens, src_lengths, start.long(), caps, src_lang, tgt_lang)
        ranked = [sorted(hyps, key=lambda h: h.score, reverse=True) for hyps in finalized]
        return [hyps[: self.config.nbest] for hyps in ranked]

    def _constrain(self, lprobs: torch.Tensor, tokens: torch.Tensor, step: int, max_lens: torch.Tensor) -> torch.Tensor:
        """Temperature, pad/unk, min/max length and n-gram blocking on lprobs (N, V)."""
        cfg = self.config
        lprobs = lprobs.float()
        if cfg.temperature != 1.0:
            lprobs = torch.log_softmax(lprobs / cfg.temperature, dim=-1)
        lprobs[:, self.pad] = NEG_INF
        if cfg.unkpen:
            lprobs[:, self.unk] -= cfg.unkpen
        eos_lp = lprobs[:, self.eos].clone()
        if step < cfg.min_len:
            lprobs[:, self.eos] = NEG_INF
        if cfg.no_repeat_ngram_size > 0:
            block_repeated_ngrams(lprobs, tokens[:, 1 : step + 1], cfg.no_repeat_ngram_size)
        force = max_lens <= step
        if bool(force.any()):
            lprobs[force] = NEG_INF
            lprobs[force, self.eos] = eos_lp[force]
        return lprobs

    def _search(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        start: torch.Tensor,
        max_lens: torch.Tensor,
        src_lang: torch.Tensor | None,
        tgt_lang: torch.Tensor | None,
    ) -> list[list[Hypothesis]]:
        """start, max_lens (B,): each sentence's first decoder input and length cap."""
        K, model, device = self.config.beam, self.model, src_tokens.device
        bsz, src_len = src_tokens.shape
        longest = int(max_lens.max())
        beam_offsets = torch.arange(K, device=device)

        # 1. Encode once per sentence, then repeat each sentence's encoding K times.
        enc = model.reorder_encoder_out(
            model.encode(src_tokens, src_lengths, src_lang=src_lang),
            torch.arange(bsz, device=device).repeat_interleave(K),
        )
        state = None
        # Per live hypothesis, grown by one column a step (never sized for the longest possible
        # output, so each step's reordering copies only what exists): tokens (N, step+1) starting
        # with the sentence's start token, cumulative scores (N, step), attention (N, step+1, S)
        # when needed; the sentence's target language (N,) when given, reordered like the tokens.
        tokens = start.repeat_interleave(K).unsqueeze(1)
        row_lang = tgt_lang.repeat_interleave(K) if tgt_lang is not None else None
        scores = torch.zeros(bsz * K, 0, device=device)
        attn: torch.Tensor | None = None
        sent_ids = torch.arange(bsz, device=device)  # original index of each live sentence
        finalized: list[list[Hypothesis]] = [[] for _ in range(bsz)]
        num_finished = torch.zeros(bsz, dtype=torch.long, device=device)

        for step in range(longest + 1):
            live = tokens.size(0) // K
            # 2. One decoder step for all live hypotheses, then
            # 3. candidates from the strategy (cumulative scores, source beam, token).
            state_rows = tokens.size(0)
            row_max_lens = max_lens.repeat_interleave(K)
            lprobs, step_attn, state = model.decode_step(
                tokens, enc, state, need_attn=self.need_attn, tgt_lang=row_lang
            )
            lprobs = self._constrain(lprobs, tokens, step, row_max_lens)
            cand_scores, cand_tokens, cand_beams = self.search.step(
                step, lprobs.view(live, K, -1), scores.view(live, K, step)
            )
            if step_attn is not None and self.need_attn:
                if attn is None:
                    attn = torch.zeros(state_rows, 1, src_len, device=device)
                attn = torch.cat([attn, step_attn.float().unsqueeze(1)], dim=1)
            cand_rows = cand_beams + (torch.arange(live, device=device) * K).unsqueeze(1)

            # 4. Candidates among the first K that end in EOS are finished hypotheses.
            eos_mask = cand_tokens.eq(self.eos) & torch.isfinite(cand_scores)
            top_eos = eos_mask[:, :K]
            if bool(top_eos.any()):
                self._finalize(
                    step,
                    cand_rows[:, :K][top_eos],
                    cand_scores[:, :K][top_eos],
                    tokens,
                    scores,
                    attn,
                    sent_ids,
                    src_lengths,
                    finalized,
                )
                num_finished = torch.tensor([len(hyps) for hyps in finalized], device=device)

            # 5. Sentences with K finished hypotheses (or at their length limit) leave the batch.
            done = (num_finished[sent_ids] >= K) | (max_lens <= step)
            if bool(done.all()):
                break
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(1)
                cand_scores, cand_tokens, cand_rows, eos_mask = (
                    t[keep] for t in (cand_scores, cand_tokens, cand_rows, eos_mask)
                )
                sent_ids, max_lens = sent_ids[keep], max_lens[keep]
                enc = model.reorder_encoder_out(enc, (keep.unsqueeze(1) * K + beam_offsets).view(-1))

            # 6. The K best candidates not ending in EOS continue (EOS ones sort last; if one
            #    must be kept, as with sampling, it is kept dead with score -inf).
            width = cand_scores.size(1)
            rank = eos_mask.long() * width + torch.arange(width, device=device)
            active = rank.topk(K, dim=1, largest=False).indices
            rows = cand_rows.gather(1, active).view(-1)
            kept_scores = cand_scores.gather(1, active).masked_fill(eos_mask.gather(1, active), NEG_INF)
            tokens = torch.cat([tokens[rows], cand_tokens.gather(1, active).view(-1, 1)], dim=1)
            scores = torch.cat([scores[rows], kept_scores.view(-1, 1)], dim=1)
            attn = attn[rows] if attn is not None else None
            row_lang = row_lang[rows] if row_lang is not None else None
            if rows.numel() != state_rows or not torch.equal(rows, torch.arange(state_rows, device=device)):
                state = model.reorder_state(state, rows)  # skipped when nothing moved (e.g. greedy)
        return finalized

    def _finalize(
        self,
        step: int,
        rows: torch.Tensor,
        eos_scores: torch.Tensor,
        tokens: torch.Tensor,
        scores: torch.Tensor,
        attn: torch.Tensor | None,
        sent_ids: torch.Tensor,
        src_lengths: torch.Tensor,
        finalized: list[list[Hypothesis]],
    ) -> None:
        """Record hypotheses rows[i] + EOS (score eos_scores[i]) for their sentences."""
        K = self.config.beam
        hyp_tokens = torch.cat([tokens[rows, 1:], tokens.new_full((len(rows), 1), self.eos)], dim=1)
        cumulative = torch.cat([scores[rows], eos_scores.unsqueeze(1).float()], dim=1)
        positional = torch.cat([cumulative[:, :1], cumulative[:, 1:] - cumulative[:, :-1]], dim=1)
        normalized = normalize_score(eos_scores.float(), step + 1, self.config.lenpen)
        owners = sent_ids[torch.div(rows, K, rounding_mode="floor")].tolist()
        for i, sent in enumerate(owners):
            if len(finalized[sent]) >= K:
                continue
            hyp_attn = None
            if attn is not None:
                hyp_attn = attn[rows[i], 1:, : int(src_lengths[sent])].cpu()
            finalized[sent].append(
                Hypothesis(
                    tokens=hyp_tokens[i].cpu(),
                    score=float(normalized[i]),
                    positional_scores=positional[i].cpu(),
                    attention=hyp_attn,
                    alignment=hard_alignment(hyp_attn),
                )
            )
