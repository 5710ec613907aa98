"""From token ids back to text, and the fairseq-style S-/T-/H-/D-/P-/A- lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from toolkit.data.characters import CHARACTERS
from toolkit.search.hypothesis import Hypothesis

SUBWORD_NMT = "@@ "


def side_marker(marker: str | None, processor: Any | None) -> str | None:
    """--remove-bpe for one side: subword-nmt's '@@ ' (the default) names a character side's segmentation.

    A side segmented into characters holds no '@@ ' joint, so the default (or bare --remove-bpe)
    undoes what the side records instead; any other value, and 'none', is taken as given.
    """
    if marker == SUBWORD_NMT and processor is not None and processor.config.by_characters:
        return CHARACTERS
    return marker


@dataclass
class Postprocessor:
    """Undo BPE (`remove_bpe`, e.g. "@@ " or "characters", or None to keep it) and detokenize with the
    target TextProcessor the data was prepared with (when there is one).

    `remove_bpe` applies to each side as side_marker says, from that side's processor (when known).
    """

    src_dict: Any
    tgt_dict: Any
    remove_bpe: str | None = SUBWORD_NMT
    tgt_processor: Any | None = None
    src_processor: Any | None = None
    src_marker: str | None = field(init=False)
    tgt_marker: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.src_marker = side_marker(self.remove_bpe, self.src_processor)
        self.tgt_marker = side_marker(self.remove_bpe, self.tgt_processor)

    def source(self, ids: torch.Tensor) -> str:
        return self.src_dict.string(ids.tolist(), bpe_symbol=self.src_marker)

    def target(self, ids: torch.Tensor) -> str:
        return self.tgt_dict.string(ids.tolist(), bpe_symbol=self.tgt_marker)

    def tokenized(self, ids: torch.Tensor) -> str:
        """Segmentation undone whatever --remove-bpe says (none included), still tokenized."""
        own = self.tgt_processor.marker if self.tgt_processor is not None else SUBWORD_NMT
        return self.tgt_dict.string(ids.tolist(), bpe_symbol=self.tgt_marker or own)

    def detokenize(self, ids: torch.Tensor) -> str:
        if self.tgt_processor is not None:
            return self.tgt_processor.decode(self.tgt_dict.string(ids.tolist()))
        return self.tgt_dict.string(ids.tolist(), bpe_symbol=self.tgt_marker or SUBWORD_NMT)


def format_alignment(alignment: torch.Tensor | None) -> str:
    """Pairs source-target of the most attended source position of each target token."""
    if alignment is None:
        return ""
    return " ".join(f"{int(s)}-{t}" for t, s in enumerate(alignment.tolist()))


def sentence_lines(
    sid: int,
    src_ids: torch.Tensor,
    ref_ids: torch.Tensor | None,
    hypos: Sequence[Hypothesis],
    post: Postprocessor,
    print_alignment: bool = False,
) -> tuple[list[str], str, str | None]:
    """(output lines, detokenized best hypothesis, detokenized reference or None)."""
    lines = [f"S-{sid}\t{post.source(src_ids)}"]
    ref = None
    if ref_ids is not None:
        ref = post.detokenize(ref_ids)
        lines.append(f"T-{sid}\t{ref}")
    best = ""
    for rank, hypo in enumerate(hypos):
        detok = post.detokenize(hypo.tokens)
        best = detok if rank == 0 else best
        lines.append(f"H-{sid}\t{hypo.score:.6f}\t{post.target(hypo.tokens)}")
        lines.append(f"D-{sid}\t{hypo.score:.6f}\t{detok}")
        lines.append(f"P-{sid}\t" + " ".join(f"{x:.4f}" for x in hypo.positional_scores.tolist()))
        if print_alignment and hypo.alignment is not None:  # models without attention have no A- line
            lines.append(f"A-{sid}\t{format_alignment(hypo.alignment)}")
    return lines, best, ref
