"""Paired bootstrap resampling (Koehn 2004) between a system and a baseline.

Per-sentence sufficient statistics are extracted once with sacreBLEU, then every
resample is just a sum of rows, so 1000 samples over thousands of sentences is fast.
The p-value follows sacreBLEU's paired bootstrap: how often the resampled difference,
centred on its mean, is at least as large as the observed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sacrebleu.metrics.base import Metric


@dataclass
class PairedBootstrapResult:
    metric: str
    system: float
    baseline: float
    difference: float
    system_ci: tuple[float, float]  # 95% interval of the system's score
    baseline_ci: tuple[float, float]
    p_value: float
    samples: int
    seed: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "system": round(self.system, 4),
            "baseline": round(self.baseline, 4),
            "difference": round(self.difference, 4),
            "system_ci95": [round(x, 4) for x in self.system_ci],
            "baseline_ci95": [round(x, 4) for x in self.baseline_ci],
            "p_value": round(self.p_value, 6),
            "significant": self.significant,
            "samples": self.samples,
            "seed": self.seed,
        }


def _resampled(metric: Metric, stats: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.array([metric._compute_score_from_stats(list(stats[row].sum(0))).score for row in indices])


def paired_bootstrap(
    name: str,
    metric: Metric,
    system: Sequence[str],
    baseline: Sequence[str],
    refs: Sequence[str],
    samples: int = 1000,
    seed: int = 1,
) -> PairedBootstrapResult:
    """Is `system` better (or worse) than `baseline` beyond what the choice of test sentences explains?"""
    sys_stats = np.array(metric._extract_corpus_statistics(list(system), [list(refs)]), dtype=np.float64)
    base_stats = np.array(metric._extract_corpus_statistics(list(baseline), [list(refs)]), dtype=np.float64)
    sys_score = metric._compute_score_from_stats(list(sys_stats.sum(0))).score
    base_score = metric._compute_score_from_stats(list(base_stats.sum(0))).score
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(refs), size=(samples, len(refs)))
    sys_samples = _resampled(metric, sys_stats, indices)
    base_samples = _resampled(metric, base_stats, indices)
    diffs = sys_samples - base_samples
    observed = sys_score - base_score
    extreme = np.sum(np.abs(diffs - diffs.mean()) >= abs(observed))
    p_value = float((extreme + 1) / (samples + 1))

    def ci(values: np.ndarray) -> tuple[float, float]:
        return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))

    return PairedBootstrapResult(
        name,
        float(sys_score),
        float(base_score),
        float(observed),
        ci(sys_samples),
        ci(base_samples),
        p_value,
        samples,
        seed,
    )
