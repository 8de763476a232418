"""Score combination and temperature scaling: numpy only.

Each member model gives one score per class (LinearSVC margins, ComplementNB joint
log-likelihoods). Their scales differ, so each row is standardised (mean 0, standard deviation 1
over the classes) before a weighted sum. The sum goes through a softmax whose temperature is
fitted on out-of-fold scores by minimising the negative log-likelihood: one parameter, so it
cannot change which class ranks first, only how sure the model claims to be.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def standardise_rows(scores: Array) -> tuple[Array, Array, Array]:
    """(z, row means, row standard deviations) with z = (scores - mean) / std per row."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True) + 1e-12
    return (scores - mean) / std, mean, std


def softmax(scores: Array, temperature: float = 1.0) -> Array:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: Array = e / e.sum(axis=1, keepdims=True)
    return out


def negative_log_likelihood(scores: Array, target: NDArray[np.int64], temperature: float) -> float:
    probs = softmax(scores, temperature)
    picked = probs[np.arange(len(target)), target]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, None))))


def fit_temperature(
    scores: Array, target: NDArray[np.int64], low: float = 0.02, high: float = 50.0
) -> float:
    """The temperature minimising the NLL of ``softmax(scores / T)`` (golden-section on log T)."""
    if len(target) == 0:
        return 1.0
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc = negative_log_likelihood(scores, target, math.exp(c))
    fd = negative_log_likelihood(scores, target, math.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = negative_log_likelihood(scores, target, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = negative_log_likelihood(scores, target, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(confidence: Array, correct: Array, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += float(mask.sum()) * abs(float(correct[mask].mean() - confidence[mask].mean()))
    return total / len(confidence)
