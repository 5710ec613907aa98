"""Criterions. Contract: forward(model, batch) -> (loss, sample_size, logging_output), sum-reduced."""

from toolkit.criterions import cross_entropy  # noqa: F401  (registers cross_entropy, label_smoothed_cross_entropy)
