"""Interval estimates for benchmark results."""

from __future__ import annotations

import numpy as np


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95, resamples: int = 10_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (per-seed results): resample the values
    with replacement ``resamples`` times, take the mean of each, return the central ``confidence``
    range. A single value gives a zero-width interval at it; the draw is seeded, so tables repeat."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError(f"bootstrap_interval needs a non-empty 1-D array of finite values, got {values!r}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)
