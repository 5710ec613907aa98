"""Attention heatmaps (optional extra: matplotlib). One PNG per sentence, target rows x source columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from toolkit.errors import UserError
from toolkit.fileio import atomic_path


def require_matplotlib():
    """Import matplotlib with a non-interactive backend, or explain how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "--plot-attention needs matplotlib: pip install matplotlib (or pip install 'nmt[plot]')"
        ) from None
    return plt


def plot_attention(
    attention: torch.Tensor, src_tokens: Sequence[str], tgt_tokens: Sequence[str], path: str | Path, title: str = ""
) -> None:
    """Write a heatmap of attention (T, S): rows are target tokens, columns source tokens."""
    plt = require_matplotlib()
    weights = attention.float().cpu().numpy()
    tgt_len, src_len = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * src_len + 1.5), max(3.0, 0.4 * tgt_len + 1.2)))
    try:
        image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=max(1e-6, float(weights.max())))
        ax.set_xticks(range(src_len), labels=list(src_tokens)[:src_len], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(tgt_len), labels=list(tgt_tokens)[:tgt_len], fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("target")
        if title:
            ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.04)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
