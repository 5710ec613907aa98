"""Paired bootstrap resampling (Koehn 2004) between a system and a baseline.

Per-sentence sufficient statistics are extracted once with sacreBLEU, then every
resample is just a sum of rows, so 1000 samples over thousands of sentences is fast.
The p-value is sacreBLEU's (`sacrebleu --paired-bs`, after Moses'
bootstrap-hypothesis-difference-significance.pl), with the same resamples for the same seed: how
often the absolute resampled difference, centred on its mean, exceeds the observed one. One
deliberate difference: two systems with identical scores get p = 1, where sacreBLEU's strict
comparison would report 1/(samples+1) and call a system significantly different from itself.
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
    return np.array([metric._compute_score_from_stats(stats[row].sum(0)).score for row in indices])


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
    sys_stats = metric._extract_corpus_statistics(list(system), [list(refs)])
    base_stats = metric._extract_corpus_statistics(list(baseline), [list(refs)])
    sys_score = metric._aggregate_and_compute(sys_stats).score
    base_score = metric._aggregate_and_compute(base_stats).score
    # sacreBLEU's draw and precision, so a seed gives its resamples and its p-value.
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(refs), size=(samples, len(refs)), replace=True)
    sys_samples = _resampled(metric, np.array(sys_stats, dtype="float32"), indices)
    base_samples = _resampled(metric, np.array(base_stats, dtype="float32"), indices)
    spread = np.abs(sys_samples - base_samples)
    observed = sys_score - base_score
    if observed == 0:
        p_value = 1.0
    else:
        extreme = np.sum(spread - spread.mean() > abs(observed))
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
