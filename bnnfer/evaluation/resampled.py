"""Summary metrics of many bootstrap resamples at once, each resample given by multiplicities.

A percentile bootstrap (`bnnfer.evaluation.metrics.bootstrap_ci`) scores a metric on ``R`` resamples
of the N images, one call per resample. Each metric here depends on a resample only through how
often it drew each image, ``counts`` ``(R, N)`` (`bnnfer.evaluation.metrics.bootstrap_counts`; rows
sum to N), and on per-image quantities that resampling does not change: an image's correctness, its
confidence bin, where its score falls in the sorted order. So all R resamples cost a few array
products, and each value equals the per-resample call's up to floating-point rounding (the
tests check both against `bootstrap_ci`). Every function returns ``(R,)``, NaN on a resample
where the metric is undefined.
"""

from __future__ import annotations

import numpy as np

from .metrics import BinWeighting, bin_index


def _counts(counts: np.ndarray, n: int) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != n:
        raise ValueError(f"counts must be (R, {n}) multiplicities, got shape {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("counts must be non-negative multiplicities")
    return counts


def _per_image(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one value per image (N,), got shape {values.shape}")
    return values


def mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sum_i w_ri v_i / sum_i w_ri``: the mean of per-image ``values`` ``(N,)`` over each
    resample ``r`` with multiplicities ``w_r`` (accuracy, NLL, JSD, ... as per-image terms)."""
    values = _per_image("values", values)
    counts = _counts(counts, len(values))
    return counts @ values / counts.sum(axis=1)


def ratio(numerator: np.ndarray, denominator: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sum_i w_ri a_i / sum_i w_ri b_i`` per resample, NaN where the denominator is 0 (e.g.
    accuracy on a subset: a = correct and in it, b = in it)."""
    numerator = _per_image("numerator", numerator)
    denominator = _per_image("denominator", denominator)
    if numerator.shape != denominator.shape:
        raise ValueError(f"numerator {numerator.shape} and denominator {denominator.shape} differ")
    counts = _counts(counts, len(numerator))
    below = counts @ denominator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(below > 0, (counts @ numerator) / below, np.nan)


def calibration_error(
    confidence: np.ndarray,
    outcome: np.ndarray,
    counts: np.ndarray,
    n_bins: int = 15,
    weighting: BinWeighting = "count",
    norm: str = "l1",
) -> np.ndarray:
    """`bnnfer.evaluation.metrics.calibration_error` with equal-width bins, per resample.

    An image's bin k depends on its confidence only, so resample r holds ``n_rk = sum_{i in k}
    w_ri`` images in bin k with gap ``g_rk = |sum_{i in k} w_ri (outcome_i - conf_i)| / n_rk``:
    ``sum_k n_rk g_rk / N`` (count weighting), the mean of ``g_rk`` over bins with
    ``n_rk > 0`` (uniform), or their maximum (``norm="max"``).
    """
    if weighting not in ("count", "uniform"):
        raise ValueError(f"weighting must be 'count' or 'uniform', got {weighting!r}")
    if norm not in ("l1", "max"):
        raise ValueError(f"norm must be 'l1' or 'max', got {norm!r}")
    confidence = _per_image("confidence", confidence)
    outcome = _per_image("outcome", outcome)
    if confidence.shape != outcome.shape:
        raise ValueError(f"confidence {confidence.shape} and outcome {outcome.shape} differ")
    counts = _counts(counts, len(confidence))
    member = np.eye(n_bins)[bin_index(confidence, n_bins, "width")]  # (N, K) one-hot bins
    in_bin = counts @ member  # (R, K)
    surplus = np.abs(counts @ (member * (outcome - confidence)[:, None]))  # (R, K)
    filled = in_bin > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = np.where(filled, surplus / in_bin, np.nan)
    if norm == "max":
        return np.nanmax(gaps, axis=1)
    if weighting == "count":
        return surplus.sum(axis=1) / in_bin.sum(axis=1)
    return np.nanmean(gaps, axis=1)


def average_ranks(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(R, N)``: the rank (1-based, ties given the mean of the ranks they span) that image i's
    value takes in resample r. With ``W_rg`` the images of value group g (equal values) drawn
    in r and ``B_rg`` those of smaller value, every copy of g ranks ``B_rg + (W_rg + 1) / 2``."""
    x = _per_image("x", x)
    counts = _counts(counts, len(x))
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(first) - 1  # (N,) value group of each sorted position
    last = np.r_[np.flatnonzero(first)[1:], len(x)] - 1  # (G,) last sorted position of each
    through = np.cumsum(counts[:, order], axis=1)[:, last]  # (R, G) drawn up to each group
    weight = np.diff(through, axis=1, prepend=0.0)  # (R, G) W_rg
    ranks = np.empty_like(counts)
    ranks[:, order] = (through - weight + (weight + 1) / 2)[:, group]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`bnnfer.evaluation.metrics.spearman` per resample: the Pearson correlation, each image
    counted ``w_ri`` times, of the resample's `average_ranks` of x and y; NaN where one is
    constant."""
    counts = _counts(counts, len(x))
    if len(y) != len(x):
        raise ValueError(f"x ({len(x)},) and y ({len(y)},) differ in length")
    total = counts.sum(axis=1, keepdims=True)
    centred = []
    for values in (x, y):
        ranks = average_ranks(values, counts)
        centred.append(ranks - (counts * ranks).sum(axis=1, keepdims=True) / total)
    rx, ry = centred
    denominator = np.sqrt((counts * rx**2).sum(axis=1) * (counts * ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (counts * rx * ry).sum(axis=1) / denominator, np.nan)


def auroc(scores: np.ndarray, positive: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`bnnfer.evaluation.metrics.auroc` per resample: ``(R_pos - n_pos (n_pos + 1) / 2) / (n_pos
    n_neg)`` with the resample's `average_ranks`, n_pos its drawn positives; NaN where a class is
    absent."""
    positive = np.asarray(positive, dtype=bool)
    if positive.shape != np.shape(scores):
        raise ValueError(f"positive {positive.shape} and scores {np.shape(scores)} differ")
    counts = _counts(counts, len(positive))
    ranks = average_ranks(scores, counts)
    n_pos = counts @ positive
    n_neg = counts.sum(axis=1) - n_pos
    rank_sum = (counts * ranks) @ positive
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), value, np.nan)
