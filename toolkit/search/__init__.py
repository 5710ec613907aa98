"""Search: strategies (beam, greedy = beam 1, sampling) and the driver that runs them on any model."""

from toolkit.search.config import SearchConfig
from toolkit.search.ensemble import Ensemble
from toolkit.search.generator import SequenceGenerator, build_strategy
from toolkit.search.hypothesis import Hypothesis
from toolkit.search.scorer import score_targets
from toolkit.search.strategies import BeamSearch, Sampling

__all__ = [
    "BeamSearch",
    "Ensemble",
    "Hypothesis",
    "Sampling",
    "SearchConfig",
    "SequenceGenerator",
    "build_strategy",
    "score_targets",
]
