"""Tests of ``bnnfer.evaluation.resampled``: metrics of many bootstrap resamples at once.

What is checked:

* the identity resample (every image drawn once) gives the plain metric of
  ``bnnfer.evaluation.metrics`` (mean, ratio, the three calibration errors, Spearman, AUROC);
* cross-check against the per-resample reference: for the resamples ``resample_indices``
  draws, each row of the vectorised result equals the ``bnnfer.evaluation.metrics`` function
  called on that resample's images, on data full of ties (discrete scores, repeated images);
* ``average_ranks`` against SciPy's ``rankdata`` of each resample;
* ``bootstrap_counts`` holds exactly the multiplicities of ``resample_indices``;
* every `bnnfer.evaluation.registry.METRICS` entry with a resampled form gives the same interval,
  alone and paired, as resampling its plain function one call at a time;
* analytic cases (a perfect ranking, one class absent, a constant variable) and bad arguments.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bnnfer.evaluation import metrics, resampled
from bnnfer.evaluation.registry import METRICS, paired_difference, per_face, summarise

N = 90


@pytest.fixture
def data() -> dict[str, np.ndarray]:
    """Per-image quantities with many ties: confidences on a coarse grid, scores with 5
    distinct values, a binary outcome."""
    rng = np.random.default_rng(7)
    return {
        "confidence": rng.integers(1, 20, N) / 20,
        "outcome": (rng.random(N) < 0.6).astype(np.float64),
        "agreement": rng.integers(0, 11, N) / 10,
        "x": rng.integers(0, 5, N).astype(np.float64),
        "y": rng.normal(size=N).round(1),
    }


def resamples(n_boot: int = 40, seed: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    indices = list(metrics.resample_indices(N, n_boot, seed))
    counts = np.concatenate(list(metrics.bootstrap_counts(N, n_boot, seed, block=16)))
    return indices, counts


def test_bootstrap_counts_are_the_multiplicities_of_the_resamples():
    indices, counts = resamples(n_boot=40)
    assert counts.shape == (40, N)  # three blocks of at most 16 rows, stacked
    np.testing.assert_array_equal(counts.sum(axis=1), N)
    for index, row in zip(indices, counts, strict=True):
        np.testing.assert_array_equal(row, np.bincount(index, minlength=N))


def test_the_identity_resample_gives_the_plain_metric(data):
    once = np.ones((1, N))
    c, o, a = data["confidence"], data["outcome"], data["agreement"]
    assert resampled.mean(o, once)[0] == pytest.approx(o.mean())
    assert resampled.ratio(o * (c > 0.5), (c > 0.5) * 1.0, once)[0] == pytest.approx(
        o[c > 0.5].mean()
    )
    for options in ({}, {"weighting": "uniform"}, {"norm": "max"}):
        expected = metrics.calibration_error(c, a, 15, "width", **options)
        assert resampled.calibration_error(c, a, once, **options)[0] == pytest.approx(expected)
    assert resampled.spearman(data["x"], data["y"], once)[0] == pytest.approx(
        metrics.spearman(data["x"], data["y"])
    )
    assert resampled.auroc(data["x"], o > 0, once)[0] == pytest.approx(
        metrics.auroc(data["x"], o > 0)
    )


def test_each_resample_equals_the_metric_of_its_images(data):
    """Reference: the bnnfer.evaluation.metrics function on the resample's images, one call each."""
    indices, counts = resamples()
    c, o, a, x, y = (data[k] for k in ("confidence", "outcome", "agreement", "x", "y"))
    subset = (x > 1).astype(np.float64)
    cases = {
        "mean": (resampled.mean(a, counts), lambda i: a[i].mean()),
        "ratio": (
            resampled.ratio(o * subset, subset, counts),
            lambda i: o[i][subset[i] > 0].mean() if subset[i].any() else np.nan,
        ),
        "ece": (
            resampled.calibration_error(c, o, counts),
            lambda i: metrics.calibration_error(c[i], o[i], 15, "width"),
        ),
        "ece uniform": (
            resampled.calibration_error(c, a, counts, n_bins=7, weighting="uniform"),
            lambda i: metrics.calibration_error(c[i], a[i], 7, "width", "uniform"),
        ),
        "mce": (
            resampled.calibration_error(c, a, counts, norm="max"),
            lambda i: metrics.calibration_error(c[i], a[i], 15, "width", norm="max"),
        ),
        "spearman": (resampled.spearman(x, y, counts), lambda i: metrics.spearman(x[i], y[i])),
        "auroc": (resampled.auroc(y, o > 0, counts), lambda i: metrics.auroc(y[i], o[i] > 0)),
    }
    # each drawn copy of an image takes the average rank of its value in the resample
    ranks = resampled.average_ranks(x, counts)
    for index, row in zip(indices, ranks, strict=True):
        np.testing.assert_allclose(row[index], stats.rankdata(x[index]))
    for name, (got, reference) in cases.items():
        expected = np.array([reference(i) for i in indices])
        assert got.shape == (len(indices),)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_analytic_cases():
    counts = np.array([[2.0, 1, 1, 0], [0, 0, 2, 2], [4, 0, 0, 0]])
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    positive = np.array([False, False, True, True])
    # a perfect ranking: AUROC 1 where both classes were drawn, NaN where one is missing
    np.testing.assert_array_equal(resampled.auroc(scores, positive, counts)[:1], [1.0])
    assert np.isnan(resampled.auroc(scores, positive, counts)[1:]).all()
    # Spearman of a variable with itself is 1; NaN where the resample holds one value
    rho = resampled.spearman(scores, scores, counts)
    np.testing.assert_allclose(rho[:2], 1.0)
    assert np.isnan(rho[2])
    # the subset ratio is undefined where no subset image was drawn
    assert np.isnan(resampled.ratio(positive * 1.0, positive * 1.0, counts)[2])


def faces_of(seed: int):
    rng = np.random.default_rng(seed)
    samples = rng.dirichlet(np.full(8, 0.5), size=(5, 150))  # (S, N, C)
    votes = rng.multinomial(10, rng.dirichlet(np.ones(8)), size=150) / 10
    return per_face(samples, votes.argmax(axis=1), votes, rng.random(150) < 0.7)


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.resampled is not None])
def test_metrics_with_a_resampled_form_give_the_reference_interval(name):
    """Reference: the metric's plain function resampled one call at a time (bootstrap_ci)."""
    metric = METRICS[name]
    faces, reference = faces_of(1), faces_of(2)
    np.testing.assert_allclose(
        summarise(metric, faces, n_boot=60, seed=5),
        summarise(metric.value, faces, n_boot=60, seed=5),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        paired_difference(metric, faces, reference, n_boot=60, seed=5),
        paired_difference(metric.value, faces, reference, n_boot=60, seed=5),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: resampled.mean(np.zeros(3), np.ones((2, 4))), r"counts must be \(R, 3\)"),
        (lambda: resampled.mean(np.zeros(3), -np.ones((2, 3))), "non-negative"),
        (lambda: resampled.mean(np.zeros((3, 2)), np.ones((2, 3))), "one value per image"),
        (lambda: resampled.ratio(np.zeros(3), np.zeros(4), np.ones((1, 3))), "differ"),
        (
            lambda: resampled.calibration_error(
                np.zeros(3), np.zeros(3), np.ones((1, 3)), norm="l2"
            ),
            "norm must be",
        ),
        (
            lambda: resampled.calibration_error(
                np.zeros(3), np.zeros(3), np.ones((1, 3)), weighting="mass"
            ),
            "weighting must be",
        ),
        (lambda: resampled.spearman(np.zeros(3), np.zeros(4), np.ones((1, 3))), "differ"),
        (lambda: resampled.auroc(np.zeros(3), np.zeros(4, bool), np.ones((1, 3))), "differ"),
        (lambda: summarise(METRICS["jsd"], faces_of(1), n_boot=0), "n_boot must be >= 1"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
