"""The metric registry: per-face quantities computed once from a row's samples (`Faces`), and
every summary metric of the evaluation (`METRICS`) with its 95% percentile-bootstrap interval,
alone (`summarise`) or paired with the classical row's (`paired_difference`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..data.votes import single_annotator
from . import metrics, resampled


class Faces(NamedTuple):
    """What every summary metric needs, one row per face, computed once from the samples.

    The bootstrap resamples these rows instead of the ``(S, N, C)`` samples, so each resample
    costs ``O(N C)`` rather than ``O(S N C)``; the per-face values are the same either way
    because each depends on one face's samples only.
    """

    probs: np.ndarray  # (N, C) mean predictive distribution, rows renormalised
    labels: np.ndarray  # (N,) plurality labels
    votes: np.ndarray  # (N, C) vote distributions
    total: np.ndarray  # (N,) predictive entropy H(mean_s p_s)
    aleatoric: np.ndarray  # (N,) expected entropy mean_s H(p_s)
    epistemic: np.ndarray  # (N,) mutual information, total - aleatoric
    majority: np.ndarray  # (N,) bool: in the FER+ papers' subset (`data.barsoum_majority`)


def per_face(
    samples: np.ndarray,
    labels: np.ndarray,
    votes: np.ndarray,
    majority: np.ndarray | None = None,
) -> Faces:
    """`Faces` of MC samples ``(S, N, C)`` (rows renormalised in float64 first). ``majority``
    marks the faces of the FER+ papers' protocol (`bnnfer.data.votes.barsoum_majority` of the raw
    votes); without it no face is marked, and that protocol's accuracy is undefined (NaN)."""
    array = np.asarray(samples, dtype=np.float64)
    array = array / array.sum(axis=2, keepdims=True)
    scores = metrics.uncertainty_scores(array)
    probs = array.mean(axis=0)
    return Faces(
        probs=probs / probs.sum(axis=1, keepdims=True),
        labels=np.asarray(labels),
        votes=np.asarray(votes, dtype=np.float64),
        total=scores["predictive_entropy"],
        aleatoric=scores["expected_entropy"],
        epistemic=scores["mutual_information"],
        majority=(
            np.zeros(len(probs), bool) if majority is None else np.asarray(majority, dtype=bool)
        ),
    )


class Metric(NamedTuple):
    """A summary metric of a set of faces, and optionally the same metric of many bootstrap
    resamples at once (`bnnfer.evaluation.resampled`): ``resampled(faces, counts)`` takes
    multiplicities ``(R, N)`` and returns ``(R,)``. Metrics without it are resampled one call
    at a time."""

    header: str
    value: Callable[[Faces], float]
    resampled: Callable[[Faces, np.ndarray], np.ndarray] | None = None


def _resampled_interval(
    metric: Metric, faces: Faces, n_boot: int, seed: int, reference: Faces | None = None
) -> tuple[float, float, float]:
    """The interval of ``metric`` (minus the ``reference``'s on the same resample) from its
    ``resampled`` form, on the resamples `bnnfer.evaluation.metrics.bootstrap_counts` draws for
    ``seed``: those `bnnfer.evaluation.metrics.bootstrap_ci` draws."""
    form = metric.resampled
    if form is None:
        raise ValueError(f"{metric.header}: no resampled form")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    scores = [faces] if reference is None else [faces, reference]
    blocks = []
    for counts in metrics.bootstrap_counts(len(faces.probs), n_boot, seed):
        values = [form(f, counts) for f in scores]
        blocks.append(values[0] if reference is None else values[0] - values[1])
    point = [metric.value(f) for f in scores]
    return metrics.percentile_interval(
        point[0] if reference is None else point[0] - point[1], np.concatenate(blocks)
    )


def summarise(
    metric: Metric | Callable[[Faces], float], faces: Faces, n_boot: int, seed: int = 0
) -> tuple[float, float, float]:
    """``(value, low, high)``: the metric of ``faces`` with a 95% percentile-bootstrap interval
    (faces resampled with replacement; the same resamples for every method given the same
    seed). A `Metric` with a ``resampled`` form scores all resamples at once; a bare function
    is called once per resample (`bnnfer.evaluation.metrics.bootstrap_ci`), with the same
    resamples."""
    if isinstance(metric, Metric) and metric.resampled is not None:
        return _resampled_interval(metric, faces, n_boot, seed)
    fn = metric.value if isinstance(metric, Metric) else metric
    return metrics.bootstrap_ci(lambda *rows: fn(Faces(*rows)), list(faces), n_boot, seed=seed)


def paired_difference(
    metric: Metric | Callable[[Faces], float],
    faces: Faces,
    reference: Faces,
    n_boot: int,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``metric(faces) - metric(reference)`` with a 95% *paired* bootstrap interval: both
    methods are scored on the same resampled faces, so the face-to-face variation they share
    cancels and the interval is far narrower than two separate intervals would suggest. An
    interval that excludes 0 says the two methods differ on this split. ``metric`` as in
    `summarise`."""
    if len(faces.probs) != len(reference.probs):
        raise ValueError(
            f"paired faces differ in number: {len(faces.probs)} and {len(reference.probs)}"
        )
    if isinstance(metric, Metric) and metric.resampled is not None:
        return _resampled_interval(metric, faces, n_boot, seed, reference)
    fn = metric.value if isinstance(metric, Metric) else metric
    width = len(Faces._fields)
    return metrics.bootstrap_ci(
        lambda *rows: fn(Faces(*rows[:width])) - fn(Faces(*rows[width:])),
        [*faces, *reference],
        n_boot,
        seed=seed,
    )


def _on_mean(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[Faces], float]:
    return lambda f: fn(f.probs, f.labels)


def _majority_accuracy(f: Faces) -> float:
    """Accuracy on the FER+ papers' subset; NaN where it holds no face."""
    if not f.majority.any():
        return float("nan")
    return metrics.accuracy(f.probs[f.majority], f.labels[f.majority])


def _correct(f: Faces) -> np.ndarray:
    """(N,) 1.0 where the mean distribution's argmax is the plurality label."""
    return (f.probs.argmax(axis=1) == f.labels).astype(np.float64)


def _mean_of(header: str, per_face: Callable[[Faces], np.ndarray]) -> Metric:
    """A metric that is the mean of a per-face quantity, with its resampled form."""
    return Metric(
        header,
        lambda f: float(per_face(f).mean()),
        lambda f, counts: resampled.mean(per_face(f), counts),
    )


def _calibration(outcome: Callable[[Faces], np.ndarray], **options: str) -> Callable:
    """The resampled equal-width calibration error of top-label confidence against ``outcome``."""
    return lambda f, counts: resampled.calibration_error(
        f.probs.max(axis=1), outcome(f), counts, **options
    )


def _human_agreement(f: Faces) -> np.ndarray:
    return metrics.human_agreement_of_prediction(f.probs, f.votes)


def _misclassification_auroc(header: str, score: str) -> Metric:
    """AUROC of a `Faces` uncertainty score (``"total"``, ``"epistemic"``) for the errors."""
    return Metric(
        header,
        lambda f: metrics.misclassification_auroc(getattr(f, score), f.probs, f.labels),
        lambda f, counts: resampled.auroc(getattr(f, score), _correct(f) == 0, counts),
    )


# name -> Metric (column header, the metric of one set of faces, its resampled form if any)
METRICS: dict[str, Metric] = {
    "accuracy": Metric(
        "Accuracy", _on_mean(metrics.accuracy), lambda f, w: resampled.mean(_correct(f), w)
    ),
    "accuracy_majority": Metric(
        "Accuracy (Barsoum majority)",
        _majority_accuracy,
        lambda f, w: resampled.ratio(_correct(f) * f.majority, f.majority, w),
    ),
    "nll": _mean_of("NLL", lambda f: metrics.surprisal(f.probs, f.labels)),
    "brier": Metric("Brier", _on_mean(metrics.brier)),
    "ece": Metric("ECE", _on_mean(metrics.ece), _calibration(_correct)),
    "ece_unweighted": Metric(
        "ECE (unweighted)",
        _on_mean(lambda p, y: metrics.ece(p, y, weighting="uniform")),
        _calibration(_correct, weighting="uniform"),
    ),
    "adaptive_ece": Metric("Adaptive ECE", _on_mean(metrics.adaptive_ece)),
    "classwise_ece": Metric("Classwise ECE", _on_mean(metrics.classwise_ece)),
    "mce": Metric("MCE", _on_mean(metrics.mce), _calibration(_correct, norm="max")),
    "jsd": _mean_of("JSD to votes", lambda f: metrics.js_divergence(f.votes, f.probs)),
    "kl": _mean_of("KL(votes ‖ model)", lambda f: metrics.kl_divergence(f.votes, f.probs)),
    "total_variation": _mean_of("TV to votes", lambda f: metrics.total_variation(f.votes, f.probs)),
    "soft_brier": _mean_of("Soft Brier", lambda f: metrics.soft_brier(f.probs, f.votes)),
    "human_ece": Metric(
        "Human ECE",
        lambda f: metrics.human_ece(f.probs, f.votes),
        _calibration(_human_agreement),
    ),
    "entropy_spearman": Metric(
        "Entropy Spearman",
        lambda f: metrics.entropy_spearman(f.probs, f.votes),
        lambda f, w: resampled.spearman(metrics.entropy(f.probs), metrics.entropy(f.votes), w),
    ),
    "auroc_entropy": _misclassification_auroc("AUROC (entropy)", "total"),
    "auroc_mi": _misclassification_auroc("AUROC (MI)", "epistemic"),
    "predictive_entropy": _mean_of("Total unc.", lambda f: f.total),
    "expected_entropy": _mean_of("Aleatoric unc.", lambda f: f.aleatoric),
    "mutual_information": _mean_of("Epistemic unc.", lambda f: f.epistemic),
}

# The metrics measured against the vote distribution: with one vote per face it is a one-hot
# label, so they repeat the label metrics (KL is NLL, soft Brier is Brier, human ECE is ECE) or
# are undefined (no vote entropy to correlate with), and are marked SEVERAL_ANNOTATORS_NOTE.
ANNOTATOR_METRICS = ("jsd", "kl", "total_variation", "soft_brier", "human_ece", "entropy_spearman")
NOT_COMPUTED = (float("nan"), float("nan"), float("nan"))


def not_computable(votes: np.ndarray) -> tuple[str, ...]:
    """The metric names that cannot be computed from votes ``(N, 10)``: `ANNOTATOR_METRICS`
    where every face has a single vote (`bnnfer.data.votes.single_annotator`), else none."""
    return ANNOTATOR_METRICS if single_annotator(votes) else ()


# The metrics compared method by method against the classical row (paired intervals).
PAIRED_METRICS = ("jsd", "nll", "ece", "human_ece")
REFERENCE = "classical"
