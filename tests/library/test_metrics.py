"""Tests of ``bnnfer.evaluation.metrics``: the pure NumPy metric functions.

What is checked:

* analytic cases with known answers (uncertainty scores of identical / disagreeing MC samples,
  entropies of uniform distributions, ECE / MCE / human ECE / Brier / NLL / cross-entropy on
  small hand-computed examples, the divergences on identical and disjoint distributions,
  reliability-bin counts, AUROC on separating / constant / one-class scores);
* agreement with independent references on seeded random data: torchmetrics
  (``multiclass_calibration_error``, ``binary_calibration_error``, ``binary_auroc``) and
  SciPy (``spearmanr``, ``mannwhitneyu``, ``rel_entr``, ``entropy``, ``jensenshannon``);
* bad arguments (wrong ndim, mismatched shapes, NaN, negative probabilities, rows not summing
  to 1, bad labels, bad ``n_bins`` / ``strategy`` / ``weighting`` / ``norm``) raise
  ``ValueError`` naming the argument;
* ``bootstrap_ci``: the point estimate, the ordering ``low <= point <= high``, narrowing with
  more data, resampling of ``(S, B, C)`` arrays along B aligned with ``(B,)`` arrays, and the
  size check.

Bin-edge convention: bnnfer bins a confidence ``c`` into ``floor(c * n_bins)`` (1.0 in the last
bin). torchmetrics uses ``bucketize`` against ``linspace(0, 1, n_bins + 1)`` and puts ``c == 1.0``
into an extra bin of its own, and values such as 0.3 whose product with ``n_bins`` rounds up
onto an edge can land one bin lower there. The cross-checks therefore use confidences away from
every bin edge (and below 1); ``test_bin_edge_convention`` pins bnnfer's own convention.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.spatial import distance
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_calibration_error,
    multiclass_calibration_error,
    multiclass_recall,
)

from bnnfer.evaluation import metrics

LN2 = math.log(2.0)


def softmax_probs(rng: np.random.Generator, n: int, c: int, scale: float = 2.0) -> np.ndarray:
    """Rows of softmax(random logits) in float64."""
    logits = rng.normal(size=(n, c)) * scale
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def away_from_edges(confidence: np.ndarray, n_bins: int, margin: float = 1e-6) -> np.ndarray:
    """Mask of confidences farther than ``margin`` from every edge k/n_bins (and from 1.0)."""
    scaled = confidence * n_bins
    return np.abs(scaled - np.round(scaled)) > margin * n_bins


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def random_cls(rng) -> tuple[np.ndarray, np.ndarray]:
    """400 softmax rows over 8 classes and labels that agree with argmax about half the time."""
    probs = softmax_probs(rng, 400, 8)
    labels = np.where(rng.random(400) < 0.5, probs.argmax(axis=1), rng.integers(0, 8, 400))
    return probs, labels.astype(np.int64)


# --------------------------------------------------------------------------------------
# 1. analytic cases: uncertainty of MC samples


def test_mutual_information_zero_when_samples_identical(rng):
    """MI is 0 (and predictive entropy equals expected entropy) when all S samples agree."""
    p = softmax_probs(rng, 6, 5)
    samples = np.repeat(p[None], 7, axis=0)
    np.testing.assert_allclose(metrics.mutual_information(samples), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        metrics.predictive_entropy(samples), metrics.expected_entropy(samples), atol=1e-12
    )


def test_mutual_information_ln2_for_two_disjoint_one_hot_samples():
    """Two one-hot samples on different classes: MI = H([.5,.5]) - 0 = ln 2."""
    samples = np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])  # (S=2, B=1, C=3)
    np.testing.assert_allclose(metrics.mutual_information(samples), [LN2], atol=1e-12)
    np.testing.assert_allclose(metrics.expected_entropy(samples), [0.0], atol=1e-12)
    np.testing.assert_allclose(metrics.predictive_entropy(samples), [LN2], atol=1e-12)


@pytest.mark.parametrize("c", [2, 3, 8])
def test_entropies_of_uniform_equal_ln_c(c):
    """Expected and predictive entropy of uniform samples are ln C; MI is 0."""
    samples = np.full((4, 3, c), 1.0 / c)
    np.testing.assert_allclose(metrics.expected_entropy(samples), math.log(c), atol=1e-12)
    np.testing.assert_allclose(metrics.predictive_entropy(samples), math.log(c), atol=1e-12)
    np.testing.assert_allclose(metrics.mutual_information(samples), 0.0, atol=1e-12)
    np.testing.assert_allclose(metrics.entropy(samples[0]), math.log(c), atol=1e-12)


def test_uncertainty_decomposition_and_bounds(rng):
    """On random samples: predictive = expected + MI, 0 <= MI <= min(ln S, ln C)."""
    s, b, c = 5, 50, 8
    samples = softmax_probs(rng, s * b, c, scale=3.0).reshape(s, b, c)
    pe = metrics.predictive_entropy(samples)
    ee = metrics.expected_entropy(samples)
    mi = metrics.mutual_information(samples)
    np.testing.assert_allclose(pe, ee + mi, atol=1e-12)
    assert np.all(mi >= 0)
    assert np.all(mi <= min(math.log(s), math.log(c)) + 1e-12)
    scores = metrics.uncertainty_scores(samples)
    assert set(scores) == {
        "predictive_entropy",
        "expected_entropy",
        "mutual_information",
        "variation_ratio",
        "max_probability",
    }
    assert all(v.shape == (b,) for v in scores.values())
    np.testing.assert_allclose(scores["max_probability"], samples.mean(0).max(1))


def test_variation_ratio_zero_when_agree_and_half_for_two_disagreeing():
    """variation_ratio: 0 when every sample's argmax agrees, 0.5 for S=2 disagreeing, 1/3 for
    2 of 3 agreeing."""
    agree = np.array([[[0.6, 0.4]], [[0.9, 0.1]], [[0.51, 0.49]]])
    np.testing.assert_allclose(metrics.variation_ratio(agree), [0.0])
    disagree = np.array([[[0.6, 0.4]], [[0.3, 0.7]]])
    np.testing.assert_allclose(metrics.variation_ratio(disagree), [0.5])
    two_of_three = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.8, 0.2]]])
    np.testing.assert_allclose(metrics.variation_ratio(two_of_three), [1 / 3])


# --------------------------------------------------------------------------------------
# 1. analytic cases: against the plurality label


def test_accuracy_nll_brier_hand_values():
    """accuracy, NLL and Brier on a 2-row, 3-class hand example."""
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    labels = np.array([0, 2])
    assert metrics.accuracy(probs, labels) == pytest.approx(0.5)
    assert metrics.nll(probs, labels) == pytest.approx(-(math.log(0.7) + math.log(0.4)) / 2)
    # row 1: .3^2 + .2^2 + .1^2 = .14; row 2: .1^2 + .5^2 + .6^2 = .62
    assert metrics.brier(probs, labels) == pytest.approx((0.14 + 0.62) / 2)


def test_balanced_accuracy_hand_value_and_torchmetrics():
    """Balanced accuracy: the mean recall of the classes present, by hand and against
    torchmetrics' macro recall (on labels covering every class)."""
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    labels = np.array([0, 2, 0, 1])  # class 0: 2 of 2 right; class 2: 0 of 1; class 1: 1 of 1
    assert metrics.balanced_accuracy(probs, labels) == pytest.approx(2 / 3)
    assert metrics.accuracy(probs, labels) == pytest.approx(3 / 4)
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), 200)
    labels = np.concatenate([np.arange(4), rng.integers(0, 4, 196)])
    expected = multiclass_recall(
        torch.from_numpy(probs), torch.from_numpy(labels), num_classes=4, average="macro"
    )
    assert metrics.balanced_accuracy(probs, labels) == pytest.approx(float(expected))
    # a class absent from the labels does not count, however often it is predicted
    assert metrics.balanced_accuracy(np.array([[0.2, 0.8], [0.9, 0.1]]), np.array([0, 0])) == 0.5


def test_nll_floors_zero_probability_at_eps():
    """NLL of a zero probability on the label is -ln(EPS), finite."""
    probs = np.array([[1.0, 0.0]])
    assert metrics.nll(probs, np.array([1])) == pytest.approx(-math.log(metrics.EPS))


def test_ece_zero_when_confidence_equals_accuracy_in_every_bin():
    """Bins where items of confidence 0.75 are right 3/4 of the time and items of confidence
    0.6 are right 3/5 of the time give ECE = MCE = 0 (count and uniform weighting)."""
    probs = np.array([[0.75, 0.25]] * 4 + [[0.6, 0.4]] * 5)
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1, 1])  # 3 of 4, then 3 of 5 correct
    for n_bins in (4, 10, 15):
        assert metrics.ece(probs, labels, n_bins) == pytest.approx(0.0, abs=1e-12)
        assert metrics.ece(probs, labels, n_bins, "uniform") == pytest.approx(0.0, abs=1e-12)
        assert metrics.mce(probs, labels, n_bins) == pytest.approx(0.0, abs=1e-12)


def _weighted_example() -> tuple[np.ndarray, np.ndarray]:
    """n_bins=2: bin [0, .5) holds 1 correct item at confidence .4 (gap .6); bin [.5, 1] holds
    3 correct items at confidence .8 (gap .2)."""
    probs = np.array([[0.4, 0.2, 0.2, 0.2]] + [[0.8, 0.1, 0.05, 0.05]] * 3)
    labels = np.array([0, 0, 0, 0])
    return probs, labels


def test_ece_count_vs_uniform_weighting_hand_example():
    """Count-weighted ECE = (1*.6 + 3*.2)/4 = .3; unweighted = (.6 + .2)/2 = .4."""
    probs, labels = _weighted_example()
    assert metrics.ece(probs, labels, n_bins=2) == pytest.approx(0.3)
    assert metrics.ece(probs, labels, n_bins=2, weighting="uniform") == pytest.approx(0.4)
    conf, correct = probs.max(1), (probs.argmax(1) == labels).astype(float)
    assert metrics.calibration_error(conf, correct, 2, weighting="uniform") == pytest.approx(0.4)


def test_mce_is_max_gap_hand_example():
    """MCE is the larger of the two bin gaps, .6."""
    probs, labels = _weighted_example()
    assert metrics.mce(probs, labels, n_bins=2) == pytest.approx(0.6)
    conf, correct = probs.max(1), (probs.argmax(1) == labels).astype(float)
    assert metrics.calibration_error(conf, correct, 2, norm="max") == pytest.approx(0.6)


def test_single_bin_ece_is_gap_of_means(random_cls):
    """With one bin every ECE variant is |mean accuracy - mean confidence|."""
    probs, labels = random_cls
    gap = abs(metrics.accuracy(probs, labels) - probs.max(1).mean())
    assert metrics.ece(probs, labels, n_bins=1) == pytest.approx(gap)
    assert metrics.adaptive_ece(probs, labels, n_bins=1) == pytest.approx(gap)
    assert metrics.mce(probs, labels, n_bins=1) == pytest.approx(gap)


def test_adaptive_ece_hand_example():
    """Equal-mass bins of 2: {.55 wrong, .65 wrong} gap .6, {.85 right, .95 right} gap .1;
    adaptive ECE = (2*.6 + 2*.1)/4 = .35 (width bins would split them differently)."""
    probs = np.array([[0.55, 0.45], [0.65, 0.35], [0.85, 0.15], [0.95, 0.05]])
    labels = np.array([1, 1, 0, 0])
    assert metrics.adaptive_ece(probs, labels, n_bins=2) == pytest.approx(0.35)


def test_classwise_ece_hand_example():
    """Classwise ECE with one bin: per class |mean p[:, c] - share of labels c|, averaged."""
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
    labels = np.array([0, 0, 1])
    # class 0: mean p = 2/3, share 2/3 -> 0; class 1: mean p = 1/3, share 1/3 -> 0
    assert metrics.classwise_ece(probs, labels, n_bins=1) == pytest.approx(0.0, abs=1e-12)
    # with 2 bins, class 0: bin0 {.4 (y)} gap .6, bin1 {.7 (y), .9 (n)} gap |.5-.8| = .3
    # -> (1*.6 + 2*.3)/3 = .4; class 1 mirrors it exactly (p1 = 1 - p0, [y=1] = 1 - [y=0])
    assert metrics.classwise_ece(probs, labels, n_bins=2) == pytest.approx(0.4)


def test_reliability_bins_width_counts_and_ranges(rng):
    """Equal-width bins: counts sum to N, edges k/n, bin means match a direct computation,
    empty bins give NaN."""
    conf = rng.uniform(0.3, 0.7, 101)
    outcome = (rng.random(101) < conf).astype(float)
    bins = metrics.reliability_bins(conf, outcome, n_bins=10)
    assert bins["count"].sum() == 101
    np.testing.assert_allclose(bins["lower"], np.arange(10) / 10)
    np.testing.assert_allclose(bins["upper"], np.arange(1, 11) / 10)
    assert bins["bin"].shape == (101,)
    for k in range(10):
        inside = bins["bin"] == k
        assert bins["count"][k] == inside.sum()
        if inside.any():
            assert bins["confidence"][k] == pytest.approx(conf[inside].mean())
            assert bins["accuracy"][k] == pytest.approx(outcome[inside].mean())
            assert np.all(conf[inside] >= k / 10) and np.all(conf[inside] < (k + 1) / 10)
        else:
            assert np.isnan(bins["confidence"][k]) and np.isnan(bins["accuracy"][k])
    assert bins["count"][0] == 0 and np.isnan(bins["accuracy"][0])


@pytest.mark.parametrize("n", [7, 100, 103])
def test_reliability_bins_mass_counts_differ_by_at_most_one(rng, n):
    """Equal-mass bins: counts sum to N, differ by at most 1, and bins are ordered by
    confidence with lower/upper the min/max inside."""
    conf = rng.random(n)
    bins = metrics.reliability_bins(conf, np.ones(n), n_bins=6, strategy="mass")
    count = bins["count"]
    assert count.sum() == n
    assert count.max() - count.min() <= 1
    filled = count > 0
    assert np.all(bins["upper"][filled][:-1] <= bins["lower"][filled][1:])
    for k in np.flatnonzero(filled):
        inside = conf[bins["bin"] == k]
        assert bins["lower"][k] == inside.min() and bins["upper"][k] == inside.max()


def test_bin_edge_convention():
    """bnnfer bins are [k/n, (k+1)/n): an edge value goes up a bin, and 1.0 joins the last bin."""
    conf = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.2499])
    bins = metrics.reliability_bins(conf, np.zeros(6), n_bins=4)
    np.testing.assert_array_equal(bins["bin"], [0, 1, 2, 3, 3, 0])


def test_reliability_diagram_is_bins_of_top_label(random_cls):
    """reliability_diagram equals reliability_bins of (max prob, argmax == label)."""
    probs, labels = random_cls
    got = metrics.reliability_diagram(probs, labels, 10, "mass")
    ref = metrics.reliability_bins(
        probs.max(1), (probs.argmax(1) == labels).astype(float), 10, "mass"
    )
    for key in ref:
        np.testing.assert_array_equal(got[key], ref[key])


# --------------------------------------------------------------------------------------
# 1. analytic cases: against the human votes


def test_js_divergence_symmetric_zero_and_ln2():
    """JSD is symmetric, 0 for identical rows and ln 2 for disjoint one-hots."""
    p = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    q = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    jsd = metrics.js_divergence(p, q)
    np.testing.assert_allclose(jsd, metrics.js_divergence(q, p), atol=1e-15)
    np.testing.assert_allclose(jsd, [LN2, 0.0, LN2], atol=1e-12)


def test_js_divergence_bounded_on_random_data(rng):
    """On random (partly sparse) rows, 0 <= JSD <= ln 2 and JSD(p, q) == JSD(q, p)."""
    p = softmax_probs(rng, 300, 8, scale=6.0)
    q = softmax_probs(rng, 300, 8, scale=6.0)
    p[::3] = np.eye(8)[rng.integers(0, 8, 100)]  # one-hot rows with exact zeros
    q[1::3] = np.eye(8)[rng.integers(0, 8, 100)]
    jsd = metrics.js_divergence(p, q)
    assert np.all(jsd >= 0) and np.all(jsd <= LN2 + 1e-12)
    np.testing.assert_allclose(jsd, metrics.js_divergence(q, p), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda v: sum(v) > 1e-3),
    st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda v: sum(v) > 1e-3),
)
def test_js_divergence_bounds_property(a, b):
    """Property: for any pair of 4-class distributions, JSD is symmetric and in [0, ln 2]."""
    p = np.array([a]) / sum(a)
    q = np.array([b]) / sum(b)
    jsd = metrics.js_divergence(p, q)[0]
    assert -1e-15 <= jsd <= LN2 + 1e-12
    assert jsd == pytest.approx(metrics.js_divergence(q, p)[0], abs=1e-12)


def test_kl_divergence_zero_for_equal_and_nonnegative(rng):
    """KL(p || p) = 0 and KL(p || q) >= 0 on random rows."""
    p = softmax_probs(rng, 200, 8)
    q = softmax_probs(rng, 200, 8)
    np.testing.assert_allclose(metrics.kl_divergence(p, p), 0.0, atol=1e-12)
    assert np.all(metrics.kl_divergence(p, q) >= 0)
    assert metrics.kl_divergence(p, q).shape == (200,)


def test_kl_divergence_zero_p_terms_count_as_zero():
    """0 ln 0 = 0: KL([1, 0] || [.5, .5]) = ln 2."""
    np.testing.assert_allclose(
        metrics.kl_divergence(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])), [LN2]
    )


def test_total_variation_hand_values():
    """TV of disjoint one-hots is 1, of identical rows 0, and (1/2) sum |p - q| otherwise."""
    p = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    q = np.array([[0.0, 0.0, 1.0], [0.2, 0.3, 0.5], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(metrics.total_variation(p, q), [1.0, 0.0, 0.5], atol=1e-12)


def test_soft_brier_and_cross_entropy_hand_values():
    """soft Brier = sum (q - v)^2 and cross-entropy = -sum v ln q on a hand example."""
    probs = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    votes = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        metrics.soft_brier(probs, votes), [0.04 + 0.09 + 0.01, 2 / 9 + 4 / 9], atol=1e-12
    )
    np.testing.assert_allclose(
        metrics.cross_entropy(votes, probs),
        [-(0.5 * math.log(0.7) + 0.5 * math.log(0.2)), math.log(3)],
        atol=1e-12,
    )


def test_cross_entropy_equals_entropy_plus_kl(rng):
    """H(v, q) = H(v) + KL(v || q) row by row (votes with exact zeros included)."""
    probs = softmax_probs(rng, 300, 8)
    counts = rng.integers(0, 4, size=(300, 8)) * (rng.random((300, 8)) < 0.5)
    counts[:, 0] += 1  # at least one vote per image
    votes = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(
        metrics.cross_entropy(votes, probs),
        metrics.entropy(votes) + metrics.kl_divergence(votes, probs),
        atol=1e-12,
    )


def test_human_agreement_and_human_ece_hand_example():
    """Agreement is v[argmax q]; human ECE with 1 bin is |mean agreement - mean max q|, with 10
    bins the count-weighted mean of per-item gaps."""
    probs = np.array([[0.9, 0.1], [0.3, 0.7]])
    votes = np.array([[0.5, 0.5], [0.2, 0.8]])
    agree = metrics.human_agreement_of_prediction(probs, votes)
    np.testing.assert_allclose(agree, [0.5, 0.8])
    # 1 bin: |(.5 + .8)/2 - (.9 + .7)/2| = |.65 - .8| = .15
    assert metrics.human_ece(probs, votes, n_bins=1) == pytest.approx(0.15)
    # 10 bins: separate bins, (|.5 - .9| + |.8 - .7|)/2 = .25
    assert metrics.human_ece(probs, votes, n_bins=10) == pytest.approx(0.25)
    diagram = metrics.human_reliability_diagram(probs, votes, n_bins=1)
    assert diagram["confidence"][0] == pytest.approx(0.8)
    assert diagram["accuracy"][0] == pytest.approx(0.65)


def test_entropy_spearman_perfect_for_monotone_pairs():
    """entropy_spearman is 1 when the model's entropy ranks images like the vote entropy."""
    sharp = np.array([[0.97, 0.03], [0.85, 0.15], [0.7, 0.3], [0.55, 0.45]])
    votes = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    assert metrics.entropy_spearman(sharp, votes) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------
# 1. analytic cases: AUROC and Spearman


def test_auroc_perfect_constant_and_missing_class():
    """AUROC is 1 for separating scores, 0 reversed, 0.5 for constant scores, NaN with one
    class absent."""
    positive = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    scores = np.where(positive, 2.0, 1.0) + np.arange(6) * 0.01
    assert metrics.auroc(scores, positive) == pytest.approx(1.0)
    assert metrics.auroc(-scores, positive) == pytest.approx(0.0)
    assert metrics.auroc(np.full(6, 0.3), positive) == pytest.approx(0.5)
    assert math.isnan(metrics.auroc(scores, np.zeros(6, dtype=bool)))
    assert math.isnan(metrics.auroc(scores, np.ones(6, dtype=bool)))


def test_misclassification_auroc_perfect():
    """A score that is high exactly on the misclassified images gives AUROC 1."""
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 0, 1, 1])  # rows 1 and 2 are wrong
    scores = np.array([0.1, 0.9, 0.8, 0.2])
    assert metrics.misclassification_auroc(scores, probs, labels) == pytest.approx(1.0)


def test_spearman_nan_for_constant_and_plus_minus_one():
    """Spearman is NaN when a variable is constant, +1/-1 for monotone relations."""
    x = np.array([1.0, 2.0, 5.0, 9.0])
    assert math.isnan(metrics.spearman(x, np.ones(4)))
    assert metrics.spearman(x, x**3) == pytest.approx(1.0)
    assert metrics.spearman(x, -np.exp(x)) == pytest.approx(-1.0)


# --------------------------------------------------------------------------------------
# 2. cross-checks against independent references


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_and_mce_match_torchmetrics_multiclass(random_cls, n_bins):
    """ece / mce vs torchmetrics multiclass_calibration_error (norm l1 / max). torchmetrics casts
    the confidences to float32, hence rows near a bin edge are dropped and atol is 1e-6."""
    probs, labels = random_cls
    keep = away_from_edges(probs.max(1), n_bins, margin=1e-5)
    probs, labels = probs[keep], labels[keep]
    assert len(labels) > 350
    args = (torch.tensor(probs), torch.tensor(labels))
    ref_l1 = multiclass_calibration_error(*args, num_classes=8, n_bins=n_bins, norm="l1")
    ref_max = multiclass_calibration_error(*args, num_classes=8, n_bins=n_bins, norm="max")
    assert metrics.ece(probs, labels, n_bins) == pytest.approx(float(ref_l1), abs=1e-6)
    assert metrics.mce(probs, labels, n_bins) == pytest.approx(float(ref_max), abs=1e-6)


@pytest.mark.parametrize("n_bins", [1, 7, 15])
def test_ece_and_mce_match_torchmetrics_binary_float64(random_cls, n_bins):
    """Top-label ECE / MCE vs torchmetrics binary_calibration_error on (max prob, correct) in
    float64, to 1e-12."""
    probs, labels = random_cls
    conf = probs.max(1)
    keep = away_from_edges(conf, n_bins)
    probs, labels, conf = probs[keep], labels[keep], conf[keep]
    correct = torch.tensor(probs.argmax(1) == labels).long()
    for norm, ours in (("l1", metrics.ece), ("max", metrics.mce)):
        ref = binary_calibration_error(torch.tensor(conf), correct, n_bins=n_bins, norm=norm)
        assert ours(probs, labels, n_bins) == pytest.approx(float(ref), abs=1e-12)


@pytest.mark.parametrize("n_bins", [4, 10, 20])
def test_calibration_error_matches_torchmetrics_binary(rng, n_bins):
    """calibration_error(conf, outcome) with width bins / count weighting vs torchmetrics
    binary_calibration_error for l1 and max norms, on 0/1 outcomes away from bin edges."""
    conf = rng.uniform(0.0, 1.0, 500)
    conf = conf[away_from_edges(conf, n_bins)]
    outcome = (rng.random(len(conf)) < conf**1.5).astype(np.int64)
    for norm in ("l1", "max"):
        ref = binary_calibration_error(
            torch.tensor(conf), torch.tensor(outcome), n_bins=n_bins, norm=norm
        )
        ours = metrics.calibration_error(conf, outcome.astype(float), n_bins, norm=norm)
        assert ours == pytest.approx(float(ref), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_matches_scipy(rng, ties):
    """spearman vs scipy.stats.spearmanr, with and without ties."""
    x = rng.normal(size=300)
    y = 0.5 * x + rng.normal(size=300)
    if ties:
        x, y = np.round(x * 2) / 2, np.round(y)
    ref = stats.spearmanr(x, y).statistic
    assert metrics.spearman(x, y) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_torchmetrics_and_mannwhitneyu(rng, ties):
    """auroc vs torchmetrics binary_auroc (a float32 result, so atol 1e-6) and the Mann-Whitney
    U / (n_pos n_neg), with and without tied scores."""
    positive = rng.random(300) < 0.35
    scores = rng.uniform(0, 1, 300) + 0.3 * positive
    scores = scores / scores.max()
    if ties:
        scores = np.round(scores * 8) / 8
    ours = metrics.auroc(scores, positive)
    ref_tm = binary_auroc(torch.tensor(scores), torch.tensor(positive).long())
    u = stats.mannwhitneyu(scores[positive], scores[~positive]).statistic
    assert ours == pytest.approx(float(ref_tm), abs=1e-6)  # torchmetrics returns float32
    assert ours == pytest.approx(u / (positive.sum() * (~positive).sum()), abs=1e-12)


def test_kl_entropy_js_match_scipy(rng):
    """kl_divergence vs rel_entr(...).sum(1), entropy vs scipy.stats.entropy, js_divergence vs
    jensenshannon(p, q, axis=1)**2 (natural log), including rows with exact zeros in p."""
    p = softmax_probs(rng, 300, 8)
    q = softmax_probs(rng, 300, 8)
    p[::5, :3] = 0.0  # zeros in p: 0 ln 0 = 0 (q stays positive, so KL stays finite)
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(
        metrics.kl_divergence(p, q), special.rel_entr(p, q).sum(1), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(metrics.entropy(p), stats.entropy(p, axis=1), atol=1e-12)
    np.testing.assert_allclose(
        metrics.js_divergence(p, q),
        distance.jensenshannon(p, q, axis=1) ** 2,
        rtol=1e-9,
        atol=1e-12,
    )


# --------------------------------------------------------------------------------------
# 3. bad arguments


GOOD = np.array([[0.7, 0.3], [0.4, 0.6]])
GOOD_LABELS = np.array([0, 1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.accuracy(GOOD[0], GOOD_LABELS), r"probs must be \(B, C\)"),
        (lambda: metrics.mutual_information(GOOD), r"samples must be \(S, B, C\)"),
        (lambda: metrics.variation_ratio(GOOD[None, None]), r"samples must be \(S, B, C\)"),
        (lambda: metrics.entropy(np.ones((3, 1))), "p needs at least 2 classes"),
        (lambda: metrics.nll(np.array([[np.nan, 1.0], [0.4, 0.6]]), GOOD_LABELS), "probs.*NaN"),
        (lambda: metrics.brier(np.array([[np.inf, 0.0], [0.4, 0.6]]), GOOD_LABELS), "probs.*inf"),
        (lambda: metrics.ece(np.array([[1.2, -0.2], [0.4, 0.6]]), GOOD_LABELS), "probs.*negative"),
        (lambda: metrics.ece(np.array([[0.7, 0.2], [0.4, 0.6]]), GOOD_LABELS), "probs.*sum to 1"),
        (lambda: metrics.soft_brier(GOOD, np.array([[0.5, 0.6], [0.5, 0.5]])), "votes.*sum to 1"),
        (lambda: metrics.cross_entropy(GOOD, np.array([[0.5, 0.6], [0.5, 0.5]])), "probs.*sum"),
        (lambda: metrics.kl_divergence(GOOD, np.full((3, 2), 0.5)), "p .* and q .* same shape"),
        (lambda: metrics.js_divergence(GOOD, np.full((2, 3), 1 / 3)), "p .* and q .* same shape"),
        (lambda: metrics.total_variation(GOOD, -GOOD), "q contains negative"),
        (lambda: metrics.soft_brier(GOOD, np.full((3, 2), 0.5)), "probs .* and votes .* same"),
        (lambda: metrics.human_ece(GOOD, np.full((2, 3), 1 / 3)), "probs .* and votes .* same"),
        (lambda: metrics.accuracy(GOOD, np.array([0, 2])), r"labels must be class indices"),
        (lambda: metrics.nll(GOOD, np.array([-1, 0])), r"labels must be class indices"),
        (lambda: metrics.brier(GOOD, np.array([0.0, 1.0])), "labels must hold integer"),
        (lambda: metrics.ece(GOOD, np.array([0, 1, 1])), r"labels must be \(2,\)"),
        (lambda: metrics.ece(GOOD, GOOD_LABELS, n_bins=0), "n_bins must be an integer >= 1"),
        (lambda: metrics.mce(GOOD, GOOD_LABELS, n_bins=-3), "n_bins must be an integer >= 1"),
        (lambda: metrics.ece(GOOD, GOOD_LABELS, weighting="bins"), "weighting must be"),
        (lambda: metrics.reliability_diagram(GOOD, GOOD_LABELS, strategy="x"), "strategy must"),
        (lambda: metrics.human_ece(GOOD, GOOD, strategy="quantile"), "strategy must"),
        (lambda: metrics.calibration_error([0.5], [1.0], norm="l2"), "norm must be"),
        (lambda: metrics.calibration_error([], [], 5), "empty set"),
        (lambda: metrics.reliability_bins([0.5, 1.5], [1.0, 0.0]), "confidence must lie"),
        (lambda: metrics.reliability_bins([0.5, np.nan], [1.0, 0.0]), "confidence contains"),
        (lambda: metrics.reliability_bins([0.5, 0.4], [1.0]), r"outcome must be \(2,\)"),
        (lambda: metrics.spearman([1.0, 2.0], [1.0, 2.0, 3.0]), r"y must be \(2,\)"),
        (lambda: metrics.spearman([[1.0, 2.0]], [1.0, 2.0]), r"x must be \(B,\)"),
        (lambda: metrics.spearman([1.0], [1.0]), "at least 2 pairs"),
        (lambda: metrics.auroc([0.1, 0.2], [True]), r"scores must be \(1,\)"),
        (lambda: metrics.auroc([0.1, np.nan], [True, False]), "scores contains NaN"),
        # the scores must match the number of labelled images
        (lambda: metrics.misclassification_auroc([0.1], GOOD, GOOD_LABELS), r"scores must be"),
    ],
)
def test_bad_arguments_raise_value_error_naming_argument(call, match):
    """Every bad argument raises ValueError whose message names the offending argument."""
    with pytest.raises(ValueError, match=match):
        call()


def test_float32_rows_within_tolerance_are_accepted():
    """Rows that sum to 1 within SUM_TOLERANCE (float32 softmax) are accepted."""
    probs = np.array([[0.7, 0.3004], [0.4, 0.5996]], dtype=np.float32)
    assert metrics.accuracy(probs, GOOD_LABELS) == 1.0


# --------------------------------------------------------------------------------------
# 4. bootstrap_ci


def test_bootstrap_point_is_statistic_on_full_data(random_cls):
    """The point estimate is the statistic evaluated on all the data."""
    probs, labels = random_cls
    point, low, high = metrics.bootstrap_ci(metrics.ece, [probs, labels], n_boot=50)
    assert point == metrics.ece(probs, labels)
    assert low <= high


def test_bootstrap_mean_interval_contains_point_and_narrows(rng):
    """For a mean, low <= point <= high, and the interval shrinks (about 1/sqrt(n)) with more
    data."""
    small = rng.normal(size=50)
    large = rng.normal(size=5000)
    p_s, lo_s, hi_s = metrics.bootstrap_ci(np.mean, [small], n_boot=400, seed=1)
    p_l, lo_l, hi_l = metrics.bootstrap_ci(np.mean, [large], n_boot=400, seed=1)
    assert lo_s <= p_s <= hi_s and lo_l <= p_l <= hi_l
    assert p_s == pytest.approx(small.mean()) and p_l == pytest.approx(large.mean())
    assert (hi_l - lo_l) < 0.3 * (hi_s - lo_s)
    # about 2 * 1.96 / sqrt(n) for a standard normal
    assert hi_s - lo_s == pytest.approx(2 * 1.96 / math.sqrt(50), rel=0.35)


def test_bootstrap_is_reproducible_and_level_widens(rng):
    """Same seed gives the same interval; a higher level gives a wider one."""
    x = rng.normal(size=200)
    a = metrics.bootstrap_ci(np.mean, [x], n_boot=200, seed=3)
    b = metrics.bootstrap_ci(np.mean, [x], n_boot=200, seed=3)
    assert a == b
    narrow = metrics.bootstrap_ci(np.mean, [x], n_boot=200, level=0.5, seed=3)
    assert narrow[2] - narrow[1] < a[2] - a[1]


def test_bootstrap_mc_samples_resampled_along_batch(rng):
    """(S, B, C) arrays are resampled along B, with the same indices as (B,) arrays, and a
    mean-mutual-information statistic gets a sensible interval."""
    s, b, c = 4, 60, 8
    samples = softmax_probs(rng, s * b, c).reshape(s, b, c)
    ids = np.arange(b)
    tagged = samples.copy()
    tagged[..., 0] = ids[None, :]  # not probabilities any more: only tags each image
    seen_shapes = []

    def aligned(tag, index):
        seen_shapes.append(tag.shape)
        assert np.array_equal(tag[:, :, 0], np.broadcast_to(index, (s, b)))
        return 1.0

    metrics.bootstrap_ci(aligned, [tagged, ids], n_boot=20)
    assert all(shape == (s, b, c) for shape in seen_shapes)

    def mean_mi(x):
        return float(metrics.mutual_information(x).mean())

    point, low, high = metrics.bootstrap_ci(mean_mi, [samples], n_boot=200)
    assert point == pytest.approx(mean_mi(samples))
    assert low <= point <= high
    assert 0 <= low < high


def test_bootstrap_skips_undefined_resamples():
    """Resamples where the statistic is NaN (AUROC with one class) are left out."""
    scores = np.arange(6.0)
    positive = np.array([0, 0, 0, 0, 0, 1], dtype=bool)
    point, low, high = metrics.bootstrap_ci(metrics.auroc, [scores, positive], n_boot=200)
    assert point == 1.0
    assert np.isfinite(low) and np.isfinite(high)
    always_nan = metrics.bootstrap_ci(lambda x: float("nan"), [scores], n_boot=10)
    assert math.isnan(always_nan[0]) and math.isnan(always_nan[1]) and math.isnan(always_nan[2])


@pytest.mark.parametrize(
    "arrays, kwargs, match",
    [
        ([np.zeros(5), np.zeros(6)], {}, "disagree on the number of images"),
        ([np.zeros((3, 5, 2)), np.zeros(6)], {}, "disagree on the number of images"),
        ([np.zeros(5)], {"n_boot": 0}, "n_boot must be >= 1"),
        ([np.zeros(5)], {"level": 1.0}, "level must be in"),
        ([np.zeros(5)], {"level": 0.0}, "level must be in"),
    ],
)
def test_bootstrap_bad_arguments(arrays, kwargs, match):
    """Mismatched sizes, n_boot < 1 and a level outside (0, 1) raise ValueError."""
    with pytest.raises(ValueError, match=match):
        metrics.bootstrap_ci(np.mean, arrays, **kwargs)
