"""Scoring: sacreBLEU wrappers (BLEU, chrF, TER) and paired significance tests."""

from toolkit.scoring.bleu import MetricScore, ScoreConfig, corpus_bleu, corpus_scores, read_system, sentence_scores
from toolkit.scoring.significance import PairedBootstrapResult, paired_bootstrap

__all__ = [
    "MetricScore",
    "PairedBootstrapResult",
    "ScoreConfig",
    "corpus_bleu",
    "corpus_scores",
    "paired_bootstrap",
    "read_system",
    "sentence_scores",
]
