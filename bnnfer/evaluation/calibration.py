"""Temperature scaling (Guo et al., 2017): one scalar T fitted on Valid NLL, logits / T.

Given a network's probabilities ``p`` (so that ``log p`` are its logits up to a per-row constant,
which the softmax ignores), the scaled prediction is ``softmax(log p / T)``. The NLL of the
plurality label as a function of the inverse temperature ``b = 1/T``,
``NLL(b) = mean_i [logsumexp_c(b z_ic) - b z_iy]``, is convex in ``b``, so a bracketing
golden-section search finds the optimum without gradients.
"""

from __future__ import annotations

import numpy as np

from .metrics import as_distribution, as_labels

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def scale_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row-wise: ``(B, C)`` -> ``(B, C)``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.log(np.maximum(np.asarray(probs, dtype=np.float64), 1e-30)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def _nll_at(logits: np.ndarray, labels: np.ndarray, inverse_temperature: float) -> float:
    z = inverse_temperature * logits
    z_max = z.max(axis=1)
    log_norm = z_max + np.log(np.exp(z - z_max[:, None]).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def fit_temperature(
    probs: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The T in ``bounds`` that minimises the NLL of ``softmax(log p / T)`` on ``labels``."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    logits = np.log(np.maximum(probs, 1e-30))
    low, high = 1.0 / bounds[1], 1.0 / bounds[0]  # search the inverse temperature
    a, b = low, high
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = _nll_at(logits, labels, c), _nll_at(logits, labels, d)
    for _ in range(80):  # (0.618)^80 of the bracket: far below float precision in T
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = _nll_at(logits, labels, c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = _nll_at(logits, labels, d)
    return float(1.0 / ((a + b) / 2))
