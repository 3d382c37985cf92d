"""Metrics as pure NumPy functions: against the plurality label, the human votes, and uncertainty.

Shapes: ``samples`` are MC probabilities ``(S, B, C)``; ``probs`` a predictive distribution
``(B, C)`` (usually ``samples.mean(0)``); ``labels`` int ``(B,)``; ``votes`` the human vote
distribution ``(B, C)`` (rows sum to 1). Functions named after a distance or an uncertainty score
return one value per image, ``(B,)``, so that a caller can rank, filter and average them;
functions named after a summary metric (accuracy, NLL, ECE, ...) return a float.
All logs are natural (nats). Inputs are validated: a wrong shape, NaN/inf, a negative
probability or a row that does not sum to 1 raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import numpy as np

# The human baselines live in their own module (one concept each) and are metrics like these:
# re-exported so that `bnnfer.evaluation.metrics` names every metric.
from .humans import crowd_curve as crowd_curve
from .humans import crowd_log_score as crowd_log_score
from .humans import fleiss_kappa as fleiss_kappa
from .humans import held_out_log_score as held_out_log_score
from .humans import krippendorff_alpha as krippendorff_alpha
from .humans import model_agreement as model_agreement
from .humans import pairwise_agreement as pairwise_agreement
from .humans import plurality_credit as plurality_credit
from .humans import worth_annotators as worth_annotators

EPS = 1e-12  # floor for probabilities inside logarithms
SUM_TOLERANCE = 1e-3  # rows of float32 softmax outputs sum to 1 within this

BinStrategy = Literal["width", "mass"]
BinWeighting = Literal["count", "uniform"]


# --------------------------------------------------------------------------------------
# input checks


def as_distribution(name: str, p: np.ndarray, ndim: int) -> np.ndarray:
    """``p`` as float64 probabilities ``(S, B, C)`` (``ndim=3``) or ``(B, C)`` (``ndim=2``),
    checked: finite, non-negative, at least 2 classes, not empty, rows summing to 1 within
    ``SUM_TOLERANCE``; else a ValueError naming ``name``."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != ndim:
        expected = "(S, B, C)" if ndim == 3 else "(B, C)"
        raise ValueError(f"{name} must be {expected}, got shape {p.shape}")
    if p.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 classes, got shape {p.shape}")
    if p.size == 0:
        raise ValueError(f"{name} is empty (shape {p.shape}); a metric of no images is undefined")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or inf")
    if np.any(p < 0):
        raise ValueError(f"{name} contains negative probabilities (min {p.min():.3g})")
    sums = p.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > SUM_TOLERANCE):
        worst = float(sums.flat[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(f"{name} has rows that do not sum to 1 (one sums to {worst:.4f})")
    return p


def as_labels(name: str, labels: np.ndarray, batch: int, classes: int) -> np.ndarray:
    """``labels`` checked as integer class indices ``(batch,)`` in ``[0, classes)``; else a
    ValueError naming ``name``."""
    labels = np.asarray(labels)
    if labels.shape != (batch,):
        raise ValueError(f"{name} must be ({batch},) to match the predictions, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    if batch and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"{name} must be class indices in [0, {classes}), got {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def _as_scores(name: str, x: np.ndarray, batch: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or (batch is not None and x.shape[0] != batch):
        raise ValueError(f"{name} must be ({batch if batch is not None else 'B'},), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _pair(
    probs: np.ndarray, votes: np.ndarray, names: tuple[str, str] = ("probs", "votes")
) -> tuple[np.ndarray, np.ndarray]:
    probs = as_distribution(names[0], probs, 2)
    votes = as_distribution(names[1], votes, 2)
    if probs.shape != votes.shape:
        raise ValueError(
            f"{names[0]} {probs.shape} and {names[1]} {votes.shape} must have the same shape"
        )
    return probs, votes


# --------------------------------------------------------------------------------------
# against the plurality label


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """``mean_i [argmax_c p_i[c] = y_i]``."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    return float(np.mean(probs.argmax(axis=1) == labels))


def balanced_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """The mean recall over the classes present in ``labels``,
    ``mean_{c in labels} mean_{i: y_i = c} [argmax_k p_i[k] = c]``: every class weighs the
    same however rare it is."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    present = np.unique(labels)
    recalls = np.bincount(labels, correct, probs.shape[1])[present] / np.bincount(labels)[present]
    return float(recalls.mean())


def surprisal(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each image's negative log-likelihood ``-ln max(p_i[y_i], EPS)``: ``(B,)``."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    return -np.log(np.maximum(probs[np.arange(len(labels)), labels], EPS))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Negative log-likelihood ``-mean_i ln max(p_i[y_i], EPS)`` (the mean `surprisal`)."""
    return float(np.mean(surprisal(probs, labels)))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Brier score ``mean_i sum_c (p_i[c] - [c = y_i])^2`` (0 best, 2 worst)."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def bin_index(confidence: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    """Bin of each confidence: equal-width bins ``[k/n, (k+1)/n)`` (1.0 in the last), or
    equal-mass bins of ``floor``/``ceil(N/n)`` items after sorting by confidence."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if strategy == "width":
        return np.clip(np.floor(confidence * n_bins).astype(np.int64), 0, n_bins - 1)
    if strategy == "mass":
        order = np.argsort(confidence, kind="stable")
        index = np.empty(len(confidence), dtype=np.int64)
        for k, chunk in enumerate(np.array_split(order, n_bins)):
            index[chunk] = k
        return index
    raise ValueError(f"strategy must be 'width' or 'mass', got {strategy!r}")


def reliability_bins(
    confidence: np.ndarray,
    outcome: np.ndarray,
    n_bins: int = 15,
    strategy: BinStrategy = "width",
) -> dict[str, np.ndarray]:
    """Reliability-diagram data: per bin its range, count, mean confidence and mean outcome.

    ``outcome`` is what the confidence claims: 1/0 correctness against a label, or, for the
    human reliability curve, the share of annotators who chose the predicted class.

    Returns arrays ``(n_bins,)``: ``lower``, ``upper`` (the bin's confidence range: fixed
    edges for equal-width bins, the min/max confidence inside for equal-mass bins), ``count``,
    ``confidence`` and ``accuracy`` (NaN for empty bins), and ``bin`` ``(B,)`` each item's bin.
    """
    confidence = _as_scores("confidence", confidence)
    outcome = _as_scores("outcome", outcome, len(confidence))
    if np.any((confidence < 0) | (confidence > 1)):
        raise ValueError("confidence must lie in [0, 1]")
    index = bin_index(confidence, n_bins, strategy)
    count = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        mean_acc = np.bincount(index, weights=outcome, minlength=n_bins) / count
    if strategy == "width":
        lower = np.arange(n_bins) / n_bins
        upper = (np.arange(n_bins) + 1) / n_bins
    else:
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        for k in np.flatnonzero(count):
            inside = confidence[index == k]
            lower[k], upper[k] = inside.min(), inside.max()
    return {
        "lower": lower,
        "upper": upper,
        "count": count,
        "confidence": mean_conf,
        "accuracy": mean_acc,
        "bin": index,
    }


def calibration_error(
    confidence: np.ndarray,
    outcome: np.ndarray,
    n_bins: int = 15,
    strategy: BinStrategy = "width",
    weighting: BinWeighting = "count",
    norm: Literal["l1", "max"] = "l1",
) -> float:
    """Binned calibration error of confidences against outcomes.

    With ``n_k`` items in bin k, ``conf_k`` and ``acc_k`` their mean confidence and outcome:

    * ``norm="l1", weighting="count"``: ``ECE = sum_k (n_k / N) |acc_k - conf_k|`` (standard);
    * ``norm="l1", weighting="uniform"``: ``mean over non-empty k of |acc_k - conf_k|``;
    * ``norm="max"``: ``MCE = max over non-empty k of |acc_k - conf_k|``.
    """
    if weighting not in ("count", "uniform"):
        raise ValueError(f"weighting must be 'count' or 'uniform', got {weighting!r}")
    if norm not in ("l1", "max"):
        raise ValueError(f"norm must be 'l1' or 'max', got {norm!r}")
    bins = reliability_bins(confidence, outcome, n_bins, strategy)
    filled = bins["count"] > 0
    if not filled.any():
        raise ValueError("calibration error of an empty set is undefined")
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    if norm == "max":
        return float(gaps.max())
    if weighting == "count":
        return float(np.sum(gaps * bins["count"][filled]) / bins["count"].sum())
    return float(gaps.mean())


def _top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    return probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)


def ece(
    probs: np.ndarray,
    labels: np.ndarray,
    n_bins: int = 15,
    weighting: BinWeighting = "count",
) -> float:
    """Top-label ECE with equal-width bins: confidence ``max_c p[c]``, outcome "argmax = y"."""
    confidence, correct = _top_label(probs, labels)
    return calibration_error(confidence, correct, n_bins, "width", weighting)


def adaptive_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-mass bins (each bin holds N/n_bins images), count-weighted."""
    confidence, correct = _top_label(probs, labels)
    return calibration_error(confidence, correct, n_bins, "mass", "count")


def mce(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Maximum calibration error: the largest ``|acc_k - conf_k|`` over non-empty width bins."""
    confidence, correct = _top_label(probs, labels)
    return calibration_error(confidence, correct, n_bins, "width", norm="max")


def classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Classwise ECE (Kull et al., 2019): ``(1/C) sum_c ECE(p[:, c], [y = c])``.

    Each class's probability is binned (equal width) against whether the label is that class.
    """
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    per_class = [
        calibration_error(probs[:, c], (labels == c).astype(np.float64), n_bins, "width")
        for c in range(probs.shape[1])
    ]
    return float(np.mean(per_class))


def reliability_diagram(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = 15, strategy: BinStrategy = "width"
) -> dict[str, np.ndarray]:
    """`reliability_bins` of top-label confidence against correctness on the plurality label."""
    confidence, correct = _top_label(probs, labels)
    return reliability_bins(confidence, correct, n_bins, strategy)


# --------------------------------------------------------------------------------------
# against the human votes


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``KL(p || q) = sum_c p[c] ln(p[c] / q[c])`` per row (``0 ln 0 = 0``, q >= EPS): ``(B,)``."""
    p = as_distribution("p", p, 2)
    q = as_distribution("q", q, 2)
    if p.shape != q.shape:
        raise ValueError(f"p {p.shape} and q {q.shape} must have the same shape")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.maximum(p, EPS)) - np.log(np.maximum(q, EPS))), 0.0)
    return np.maximum(terms.sum(axis=1), 0.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence ``JSD = KL(p || m)/2 + KL(q || m)/2``, ``m = (p + q)/2``: ``(B,)``.

    Symmetric, in ``[0, ln 2]`` (natural log), 0 only when ``p = q``.
    """
    p, q = _pair(p, q, ("p", "q"))
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance ``(1/2) sum_c |p[c] - q[c]|`` per row, in [0, 1]: ``(B,)``."""
    p, q = _pair(p, q, ("p", "q"))
    return 0.5 * np.abs(p - q).sum(axis=1)


def soft_brier(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Brier score against the vote distribution ``sum_c (q[c] - v[c])^2`` per row: ``(B,)``."""
    probs, votes = _pair(probs, votes)
    return np.sum((probs - votes) ** 2, axis=1)


def cross_entropy(votes: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Cross-entropy of the model to the votes ``-sum_c v[c] ln max(q[c], EPS)``: ``(B,)``.

    Equals ``H(v) + KL(v || q)``: the loss a soft-target network is trained on.
    """
    probs, votes = _pair(probs, votes)
    return -np.sum(votes * np.log(np.maximum(probs, EPS)), axis=1)


def human_agreement_of_prediction(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Share of annotators who chose the model's predicted class, ``v[argmax q]``: ``(B,)``."""
    probs, votes = _pair(probs, votes)
    return votes[np.arange(len(probs)), probs.argmax(axis=1)]


def human_reliability_diagram(
    probs: np.ndarray, votes: np.ndarray, n_bins: int = 15, strategy: BinStrategy = "width"
) -> dict[str, np.ndarray]:
    """Human calibration curve: per bin of confidence ``max_c q[c]``, the mean share of
    annotators who chose the predicted class (a model calibrated to people has them equal)."""
    probs, votes = _pair(probs, votes)
    return reliability_bins(
        probs.max(axis=1), human_agreement_of_prediction(probs, votes), n_bins, strategy
    )


def human_ece(
    probs: np.ndarray, votes: np.ndarray, n_bins: int = 15, strategy: BinStrategy = "width"
) -> float:
    """ECE of the human calibration curve: ``sum_k (n_k/N) |mean v[argmax q] - mean max q|``."""
    probs, votes = _pair(probs, votes)
    return calibration_error(
        probs.max(axis=1), human_agreement_of_prediction(probs, votes), n_bins, strategy
    )


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N with ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # runs of equal values: where each starts and ends in sorted order, and which run each
    # sorted position belongs to
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = (0.5 * (starts + 1 + ends))[np.cumsum(first) - 1]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks of x and y.

    NaN when either variable is constant (the correlation is undefined).
    """
    x = _as_scores("x", x)
    y = _as_scores("y", y, len(x))
    if len(x) < 2:
        raise ValueError("spearman needs at least 2 pairs")
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt(np.sum(rx**2) * np.sum(ry**2))
    return float(np.sum(rx * ry) / denominator) if denominator > 0 else float("nan")


def entropy_spearman(probs: np.ndarray, votes: np.ndarray) -> float:
    """Spearman correlation between the model's predictive entropy and the vote entropy."""
    probs, votes = _pair(probs, votes)
    return spearman(entropy(probs), entropy(votes))


# --------------------------------------------------------------------------------------
# uncertainty of MC samples (S, B, C)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy ``H(p) = -sum_c p[c] ln p[c]`` (``0 ln 0 = 0``) per row: ``(B,)``."""
    p = as_distribution("p", p, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.maximum(p, EPS)), 0.0)
    return -terms.sum(axis=1)


def predictive_entropy(samples: np.ndarray) -> np.ndarray:
    """Total uncertainty ``H(mean_s p_s)``: ``(B,)``."""
    samples = as_distribution("samples", samples, 3)
    return entropy(samples.mean(axis=0))


def expected_entropy(samples: np.ndarray) -> np.ndarray:
    """Aleatoric uncertainty ``mean_s H(p_s)``: ``(B,)``."""
    samples = as_distribution("samples", samples, 3)
    S, B, C = samples.shape
    return entropy(samples.reshape(S * B, C)).reshape(S, B).mean(axis=0)


def mutual_information(samples: np.ndarray) -> np.ndarray:
    """Epistemic uncertainty ``MI = H(mean_s p_s) - mean_s H(p_s)`` (>= 0): ``(B,)``.

    0 when every sample agrees; at most ``ln S`` and ``ln C``.
    """
    return np.maximum(predictive_entropy(samples) - expected_entropy(samples), 0.0)


def variation_ratio(samples: np.ndarray) -> np.ndarray:
    """``1 - (count of the modal argmax over samples) / S``: ``(B,)``; 0 when all samples agree."""
    samples = as_distribution("samples", samples, 3)
    S, _, C = samples.shape
    counts = np.eye(C, dtype=np.int64)[samples.argmax(axis=2)].sum(axis=0)  # (B, C) argmax votes
    return 1.0 - counts.max(axis=1) / S


def max_probability(samples: np.ndarray) -> np.ndarray:
    """Confidence ``max_c mean_s p_s[c]``: ``(B,)``."""
    samples = as_distribution("samples", samples, 3)
    return samples.mean(axis=0).max(axis=1)


def uncertainty_scores(samples: np.ndarray) -> dict[str, np.ndarray]:
    """Every uncertainty score of ``samples`` ``(S, B, C)`` as ``(B,)`` arrays (higher = less sure;
    ``max_probability`` is the exception: higher = surer)."""
    return {
        "predictive_entropy": predictive_entropy(samples),
        "expected_entropy": expected_entropy(samples),
        "mutual_information": mutual_information(samples),
        "variation_ratio": variation_ratio(samples),
        "max_probability": max_probability(samples),
    }


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``positive`` (bool ``(B,)``).

    Computed as the Mann-Whitney statistic ``(R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``
    with average ranks for ties; NaN when either class is absent.
    """
    positive = np.asarray(positive)
    if positive.ndim != 1:
        raise ValueError(f"positive must be (B,), got {positive.shape}")
    scores = _as_scores("scores", scores, len(positive))
    positive = positive.astype(bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def misclassification_auroc(scores: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> float:
    """How well an uncertainty score (higher = less sure) singles out misclassified images."""
    probs = as_distribution("probs", probs, 2)
    labels = as_labels("labels", labels, *probs.shape)
    scores = _as_scores("scores", scores, len(labels))
    return auroc(scores, probs.argmax(axis=1) != labels)


# --------------------------------------------------------------------------------------
# bootstrap


def resample_indices(n: int, n_boot: int, seed: int = 0) -> Iterator[np.ndarray]:
    """The ``n_boot`` bootstrap resamples of ``n`` images, each ``(n,)`` indices drawn with
    replacement: the resamples `bootstrap_ci` and `bootstrap_counts` use for one ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n, n)


def bootstrap_counts(n: int, n_boot: int, seed: int = 0, block: int = 256) -> Iterator[np.ndarray]:
    """`resample_indices` as multiplicities: blocks ``(R, n)`` (``R <= block``, ``n_boot`` rows
    in all) whose entry ``[r, i]`` counts how often image i was drawn in resample r; every row
    sums to n. Metrics that depend on a resample only through these counts
    (`bnnfer.evaluation.resampled`) take all of a block's resamples in a few array products."""
    indices = resample_indices(n, n_boot, seed)
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        yield np.stack([np.bincount(next(indices), minlength=n) for _ in range(rows)]).astype(
            np.float64
        )


def percentile_interval(
    point: float, values: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """``(point, low, high)``: the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of a
    statistic's bootstrap ``values`` ``(R,)``, resamples where it is undefined (NaN) left out;
    NaN bounds when none is defined."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float(point), float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(point), float(low), float(high)


def bootstrap_ci(
    statistic: Callable[..., float],
    arrays: Sequence[np.ndarray],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap: ``(point, low, high)`` of ``statistic(*arrays)``.

    Images are resampled with replacement, the same indices for every array (arrays of MC
    samples ``(S, B, C)`` are resampled along B, all others along their first axis).
    Resamples where the statistic is undefined (NaN) are left out of the interval.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arrays = [np.asarray(a) for a in arrays]
    sizes = {a.shape[1] if a.ndim == 3 else a.shape[0] for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"arrays disagree on the number of images: {sorted(sizes)}")
    n = sizes.pop()
    point = float(statistic(*arrays))
    values = np.array(
        [
            statistic(*(a[:, index] if a.ndim == 3 else a[index] for a in arrays))
            for index in resample_indices(n, n_boot, seed)
        ],
        dtype=np.float64,
    )
    return percentile_interval(point, values, level)
