"""From token ids back to text, and the fairseq-style S-/T-/H-/D-/P-/A- lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from toolkit.search.hypothesis import Hypothesis


@dataclass
class Postprocessor:
    """Undo BPE (`remove_bpe`, e.g. "@@ ", or None to keep it) and detokenize with the
    target TextProcessor the data was prepared with (when there is one)."""

    src_dict: Any
    tgt_dict: Any
    remove_bpe: str | None = "@@ "
    tgt_processor: Any | None = None

    def source(self, ids: torch.Tensor) -> str:
        return self.src_dict.string(ids.tolist(), bpe_symbol=self.remove_bpe)

    def target(self, ids: torch.Tensor) -> str:
        return self.tgt_dict.string(ids.tolist(), bpe_symbol=self.remove_bpe)

    def detokenize(self, ids: torch.Tensor) -> str:
        if self.tgt_processor is not None:
            return self.tgt_processor.decode(self.tgt_dict.string(ids.tolist()))
        return self.tgt_dict.string(ids.tolist(), bpe_symbol=self.remove_bpe or "@@ ")


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
