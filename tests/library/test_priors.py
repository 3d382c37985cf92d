"""bnnfer.evaluation.priors: prior choices and their errors, re-weighting (the identity at the
training prior, Bayes' rule per sample), bias-corrected temperature scaling against SciPy, EM
against a known prior and the likelihood's maximum, BBSE against a hand-computed case, the intervals
and warnings; and, on the shipped evaluation of Valid, why a soft-trained row needs its own prior
and the calibration step."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from bnnfer.constants import EMOTIONS, NUM_CLASSES
from bnnfer.data.votes import plurality_label, vote_distribution
from bnnfer.evaluation import metrics
from bnnfer.evaluation.adapt import read_row_priors
from bnnfer.evaluation.predictions import read_predictions
from bnnfer.evaluation.priors import (
    MIN_FACES,
    Calibration,
    PriorChoice,
    RowPrior,
    SourceFit,
    bbse_prior,
    check_prior,
    em_prior,
    estimate_prior,
    fit_bcts,
    fit_source,
    parse_prior,
    plurality_frequencies,
    population_prior,
    read_with_prior,
    reweight,
    row_prior,
    training_priors_document,
    vote_profiles,
)
from bnnfer.training import bundle

FER_PLUS = np.array([0.36, 0.27, 0.12, 0.12, 0.09, 0.01, 0.02, 0.01])


def votes_of(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw votes ``(n, 10)``: 10 annotators each, a plurality emotion for every face."""
    votes = np.zeros((n, 10), np.int64)
    for i in range(n):
        top = rng.integers(0, NUM_CLASSES)
        votes[i, top] = 6
        for extra in rng.integers(0, 10, 4):
            votes[i, extra] += 1
    return votes


# --------------------------------------------------------------------------------------
# choices


@pytest.mark.parametrize("text", ["fer+", "FER+", " uniform ", "Adapted"])
def test_the_words_are_choices(text):
    choice = parse_prior(text)
    assert choice.kind == text.strip().lower() and choice.frequencies is None
    assert parse_prior(str(choice)) == choice


def test_explicit_frequencies_are_renormalised_and_read_back():
    choice = parse_prior("0.333, 0.333, 0.334, 0, 0, 0, 0, 0")
    assert choice.kind == "explicit"
    assert sum(choice.frequencies) == pytest.approx(1.0, abs=1e-12)
    assert parse_prior(str(choice)).frequencies == pytest.approx(choice.frequencies)
    rounded = parse_prior("0.33,0.33,0.33,0,0,0,0,0")  # sums to 0.99: within the tolerance
    assert rounded.frequencies[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0.5,0.5,-0.1,0.1,0,0,0,0", "negative frequency (surprise: -0.1)"),
        ("0.5,0.5,0.5,0,0,0,0,0", "must sum to 1"),
        ("0.5,0.5", "must hold 8 frequencies"),
        ("0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.2", "got 9"),
        ("0.5,a,0.5,0,0,0,0,0", "every frequency must be a number"),
        ("0.5,nan,0.5,0,0,0,0,0", "NaN or inf"),
        ("affectnet", "unknown prior 'affectnet': use one of fer+, uniform, adapted"),
        ("", "unknown prior"),
    ],
)
def test_bad_priors_are_clear_errors(text, says):
    with pytest.raises(ValueError, match=None) as error:
        parse_prior(text)
    assert says in str(error.value)


def test_check_prior_refuses_zero_where_it_divides_and_other_shapes():
    with pytest.raises(ValueError, match="above 0"):
        check_prior("source", [1.0, 0, 0, 0, 0, 0, 0, 0], positive=True)
    with pytest.raises(ValueError, match="shape"):
        check_prior("prior", np.full((2, 4), 1 / 8))
    with pytest.raises(ValueError, match="kind"):
        PriorChoice("affectnet")
    with pytest.raises(ValueError, match="explicit"):
        PriorChoice("uniform", (1.0,))


def test_population_prior_of_each_choice():
    assert population_prior(parse_prior("fer+")) is None
    np.testing.assert_allclose(population_prior(parse_prior("uniform")), np.full(8, 1 / 8))
    np.testing.assert_allclose(
        population_prior(parse_prior(",".join(map(str, FER_PLUS)))), FER_PLUS
    )
    with pytest.raises(ValueError, match="needs an estimate"):
        population_prior(parse_prior("adapted"))


# --------------------------------------------------------------------------------------
# training priors and re-weighting


def test_plurality_frequencies_and_vote_profiles_by_hand():
    votes = np.zeros((3, 10), np.int64)
    votes[0, [0, 1]] = [6, 4]  # neutral, happiness 0.4
    votes[1, [0, 3]] = [8, 2]  # neutral, sadness 0.2
    votes[2, [1, 8]] = [5, 5]  # happiness (unknown votes do not count)
    np.testing.assert_allclose(plurality_frequencies(votes), [2 / 3, 1 / 3, 0, 0, 0, 0, 0, 0])
    profiles = vote_profiles(votes)
    np.testing.assert_allclose(profiles[0], [0.7, 0.2, 0, 0.1, 0, 0, 0, 0])
    np.testing.assert_allclose(profiles[1], np.eye(8)[1])
    np.testing.assert_allclose(profiles[5], np.eye(8)[5])  # no face: one-hot


def test_a_soft_rows_training_prior_is_the_mean_vote_distribution():
    votes = votes_of(np.random.default_rng(0), 300)
    np.testing.assert_allclose(row_prior(votes, "soft").training, vote_distribution(votes).mean(0))
    np.testing.assert_allclose(row_prior(votes, "pld").training, vote_distribution(votes).mean(0))
    majority = row_prior(votes, "majority")
    np.testing.assert_allclose(majority.training, plurality_frequencies(votes))
    with pytest.raises(ValueError, match="target"):
        row_prior(votes, "votes")
    document = training_priors_document(votes, {"a": "majority", "b": "soft"}, "test faces")
    assert document["faces"] == 300 and document["emotions"] == list(EMOTIONS)
    np.testing.assert_allclose(
        document["rows"]["b"]["training_prior"], row_prior(votes, "soft").training
    )


def test_reweighting_to_the_training_prior_is_the_identity():
    rng = np.random.default_rng(1)
    samples = rng.dirichlet(np.ones(8), (30, 50))
    votes = votes_of(rng, 200)
    for target in ("majority", "soft"):
        row = row_prior(votes, target)
        np.testing.assert_allclose(
            reweight(samples, row.training, row.training), samples, atol=1e-12
        )
        as_trained = parse_prior(",".join(repr(float(v)) for v in row.plurality))
        read, estimate = read_with_prior(samples, as_trained, row)
        assert estimate is None
        np.testing.assert_allclose(read, samples, atol=1e-12)
        unchanged, _ = read_with_prior(samples, parse_prior("fer+"), row)
        np.testing.assert_array_equal(unchanged, samples)


def test_reweighting_is_bayes_rule_for_every_sample():
    rng = np.random.default_rng(2)
    samples = rng.dirichlet(np.ones(4), (5, 3))
    source, target = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    read = reweight(samples, target, source)
    for s in range(5):
        for b in range(3):
            posterior = samples[s, b] * target / source
            np.testing.assert_allclose(read[s, b], posterior / posterior.sum())
    # the spread follows: each sample moved on its own, not the mean alone
    assert not np.allclose(read.std(axis=0), samples.std(axis=0))
    np.testing.assert_allclose(reweight(samples[0], target, source), read[0])  # (B, C) too


def test_a_sample_on_ruled_out_classes_reads_as_the_weights():
    read = reweight(np.array([[1.0, 0.0, 0.0]]), [0.0, 0.5, 0.5], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(read, [[0.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="source must give every class"):
        reweight(np.full((1, 3), 1 / 3), [1 / 3] * 3, [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="target must hold 3"):
        reweight(np.full((1, 3), 1 / 3), [0.5, 0.5], [1 / 3] * 3)


def test_row_prior_refuses_bad_figures():
    with pytest.raises(ValueError, match="profiles must be"):
        RowPrior("soft", FER_PLUS, np.eye(3))
    with pytest.raises(ValueError, match="every row of profiles"):
        RowPrior("soft", FER_PLUS, np.eye(8) * 2)


# --------------------------------------------------------------------------------------
# bias-corrected temperature scaling


def test_bcts_is_the_optimum_scipy_finds():
    """The fitted (1/T, b) minimise the cross-entropy as SciPy's BFGS finds it, on one-hot
    labels and on soft targets."""
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (400, 4))
    probs = special.softmax(logits, axis=1)
    truth = special.softmax(0.6 * logits + [0, 1, -1, 0.5], 1)
    labels = np.array([rng.choice(4, p=p) for p in truth])
    for targets in (np.eye(4)[labels], truth):
        fitted = fit_bcts(probs, targets)

        def loss(theta: np.ndarray, targets: np.ndarray = targets) -> float:
            z = theta[0] * np.log(probs) + np.concatenate([[0.0], theta[1:]])
            return float(-(targets * special.log_softmax(z, axis=1)).sum(1).mean())

        reference = optimize.minimize(loss, np.r_[1.0, np.zeros(3)], method="BFGS", tol=1e-12).x
        assert 1 / fitted.temperature == pytest.approx(reference[0], abs=1e-4)
        np.testing.assert_allclose(fitted.bias[1:], reference[1:], atol=1e-4)
        assert fitted.bias[0] == 0.0
    with pytest.raises(ValueError, match="no information"):
        fit_bcts(probs, rng.dirichlet(np.ones(4), 400))  # targets unrelated to the probs


def test_bcts_recovers_the_temperature_and_bias_that_made_the_labels():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (20000, 3))
    truth = special.softmax(logits / 2.0 + [0.0, 0.7, -0.4], axis=1)
    labels = (rng.random(20000)[:, None] > truth.cumsum(1)).sum(1)
    fitted = fit_bcts(special.softmax(logits, axis=1), np.eye(3)[labels])
    assert fitted.temperature == pytest.approx(2.0, rel=0.05)
    np.testing.assert_allclose(fitted.bias, [0.0, 0.7, -0.4], atol=0.06)
    calibrated = fitted.apply(special.softmax(logits, axis=1))
    np.testing.assert_allclose(calibrated, truth, atol=0.03)
    assert Calibration(1.0, (0.0, 0.0, 0.0)).apply(truth) == pytest.approx(truth)


# --------------------------------------------------------------------------------------
# EM and BBSE


def gaussian_classes(
    prior: np.ndarray, n: int, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Faces of three overlapping 2-D Gaussian classes drawn at ``prior``, and the exact
    posteriors ``(n, 3)`` of a model calibrated for the ``source`` prior."""
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    labels = rng.choice(3, n, p=prior)
    x = means[labels] + rng.normal(size=(n, 2))
    log_likelihood = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
    return labels, special.softmax(log_likelihood + np.log(source), axis=1)


def test_em_recovers_a_known_prior_from_calibrated_outputs():
    rng = np.random.default_rng(5)
    source, target = np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.3, 0.6])
    _, posteriors = gaussian_classes(target, 20000, source, rng)
    estimate, converged = em_prior(posteriors, source)
    assert converged
    np.testing.assert_allclose(estimate, target, atol=0.02)
    # and it is the maximum of sum_i log sum_c p_ic pi_c / source_c + a sum_c source_c log pi_c
    few = posteriors[:60]
    for pseudo_faces in (0.0, 10.0):

        def negative(z: np.ndarray, pseudo_faces: float = pseudo_faces) -> float:
            pi = special.softmax(np.r_[0.0, z])
            prior = pseudo_faces * (source * np.log(pi)).sum()
            return -float(np.log((few / source) @ pi).sum() + prior)

        best = optimize.minimize(negative, np.zeros(2), method="BFGS", tol=1e-12).x
        found, converged = em_prior(few, source, pseudo_faces)
        assert converged
        np.testing.assert_allclose(found, special.softmax(np.r_[0.0, best]), atol=1e-4)
    # the pseudo-faces pull a small set's estimate toward the source prior
    assert (
        np.abs(em_prior(few, source)[0] - source).sum()
        < np.abs(em_prior(few, source, 0.0)[0] - source).sum()
    )
    with pytest.raises(ValueError, match="pseudo_faces"):
        em_prior(few, source, -1.0)


def test_bbse_by_hand_on_three_classes():
    """P(prediction | label) = [[.8, .1, 0], [.2, .8, .2], [0, .1, .8]] at the source prior
    (.5, .25, .25) gives the joint confusion below; a target prior (.2, .4, .4) makes 20%, 44%
    and 36% of the faces predicted 0, 1, 2, from which BBSE must find it again."""
    confusion = np.array([[0.4, 0.025, 0.0], [0.1, 0.2, 0.05], [0.0, 0.025, 0.2]])
    predictions = np.eye(3)[[0] * 20 + [1] * 44 + [2] * 36]
    np.testing.assert_allclose(bbse_prior(predictions, confusion), [0.2, 0.4, 0.4], atol=1e-12)
    # w = C^-1 mu can come out negative; those classes are set to 0
    skewed = np.eye(3)[[0] * 60 + [1] * 40]
    estimate = bbse_prior(skewed, confusion)
    assert estimate[2] == 0 and estimate.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="confusion must be finite"):
        bbse_prior(predictions, np.eye(2))


def test_fit_source_of_labelled_faces():
    rng = np.random.default_rng(6)
    labels, posteriors = gaussian_classes(np.array([0.5, 0.3, 0.2]), 3000, np.full(3, 1 / 3), rng)
    source = fit_source(posteriors, labels)
    np.testing.assert_allclose(source.prior, np.bincount(labels) / 3000)
    np.testing.assert_allclose(source.confusion.sum(0), source.prior)  # a joint distribution
    np.testing.assert_allclose(source.confusion.sum(), 1.0)
    assert 1 < source.condition < 10 and source.faces == 3000


def test_estimates_have_intervals_and_say_when_they_are_unreliable():
    rng = np.random.default_rng(7)
    base = np.array([0.5, 0.3, 0.2])
    labels, posteriors = gaussian_classes(base, 3000, base, rng)
    source = fit_source(posteriors, labels)
    _, shifted = gaussian_classes(np.array([0.2, 0.3, 0.5]), MIN_FACES, base, rng)
    for method in ("em", "bbse"):
        made = estimate_prior(shifted, source, method, n_boot=100)
        assert made.reliable and made.faces == MIN_FACES
        assert np.all(made.low <= made.prior + 1e-12) and np.all(made.prior <= made.high + 1e-12)
        assert made.prior[2] > made.prior[0]
        assert made.to_dict()["prior"]["2"] == round(made.prior[2], 4)
    few = estimate_prior(shifted[:20], source, "em", n_boot=20)
    assert not few.reliable and f"only 20 faces: below {MIN_FACES}" in few.warnings[0]
    singular = SourceFit(source.calibration, source.prior, np.diag([0.5, 0.5, 0.0]), 10)
    made = estimate_prior(shifted, singular, "bbse", n_boot=20)
    assert any("singular" in w for w in made.warnings) and singular.condition == np.inf
    with pytest.raises(ValueError, match="method"):
        estimate_prior(shifted, source, "mle")


def test_adapted_reading_needs_a_fit_and_reports_its_estimate():
    rng = np.random.default_rng(8)
    votes = votes_of(rng, 100)
    row = row_prior(votes, "majority")
    samples = rng.dirichlet(np.ones(8), (3, 40))
    with pytest.raises(ValueError, match="fit on FER\\+ Valid"):
        read_with_prior(samples, parse_prior("adapted"), row)
    with pytest.raises(ValueError, match=r"\(S, B, C\)"):
        read_with_prior(samples[0], parse_prior("uniform"), row)
    source = fit_source(rng.dirichlet(np.ones(8), 400), rng.integers(0, 8, 400))
    read, estimate = read_with_prior(samples, parse_prior("adapted"), row, source, n_boot=20)
    assert estimate is not None and estimate.faces == 40 and read.shape == samples.shape
    np.testing.assert_allclose(read, reweight(samples, estimate.prior, row.training))


# --------------------------------------------------------------------------------------
# the soft-trained rows on the shipped evaluation of Valid


@pytest.fixture(scope="module")
def shifted_valid():
    """FER+ Valid's shipped predictions split in two halves by face: the estimators fitted on
    one, 1,000 faces drawn at a uniform prior from the other (classes with replacement)."""
    _, arrays = read_predictions(bundle.DEFAULT_EVALUATION_DIR / "predictions-valid.npz")
    votes = arrays["votes"].astype(np.int64)
    labels = plurality_label(votes)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    fit, pool = order[: len(order) // 2], order[len(order) // 2 :]
    counts = rng.multinomial(1000, np.full(8, 1 / 8))
    faces = np.concatenate([rng.choice(pool[labels[pool] == c], k) for c, k in enumerate(counts)])
    return arrays, labels, fit, faces


def mean_of(samples: np.ndarray) -> np.ndarray:
    mean = samples.mean(axis=0)
    return mean / mean.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("key", ["classical_soft", "mc_dropout_soft"])
def test_a_soft_row_divided_by_the_plurality_prior_is_wrecked(shifted_valid, key):
    """A soft-trained row learned the mean vote distribution, not the plurality frequencies:
    read under a uniform prior from its own training prior it gains accuracy and NLL over
    fer+; divided by the plurality prior instead it loses several points of that gain and
    its JSD to the votes grows."""
    arrays, labels, _, faces = shifted_valid
    row = read_row_priors()[key]
    assert row.target == "soft"
    samples = arrays[f"{key}.samples"].astype(np.float64)[:, faces]
    samples /= samples.sum(axis=2, keepdims=True)
    y, votes = labels[faces], vote_distribution(arrays["votes"][faces].astype(np.int64))
    uniform = np.full(8, 1 / 8)
    own = mean_of(reweight(samples, row.in_row_terms(uniform), row.training))
    naive = mean_of(reweight(samples, uniform, row.plurality))
    trained = mean_of(samples)
    accuracy = {
        name: np.mean(p.argmax(1) == y)
        for name, p in [("own", own), ("naive", naive), ("fer+", trained)]
    }
    assert accuracy["own"] > accuracy["fer+"] + 0.05
    assert accuracy["own"] > accuracy["naive"] + 0.03
    nll = {
        name: -np.mean(np.log(p[np.arange(len(y)), y]))
        for name, p in [("own", own), ("naive", naive)]
    }
    assert nll["own"] < nll["naive"]
    assert metrics.js_divergence(votes, own).mean() < metrics.js_divergence(votes, naive).mean()


def test_em_needs_the_calibration_step_on_a_soft_row(shifted_valid):
    """EM on a soft-trained row's raw distributions (under-confident for the plurality label)
    misses a uniform prior by far more than EM after bias-corrected temperature scaling."""
    arrays, labels, fit, faces = shifted_valid
    samples = arrays["classical_soft.samples"].astype(np.float64)[0]
    probs = samples / samples.sum(axis=1, keepdims=True)
    source = fit_source(probs[fit], labels[fit])
    truth = np.bincount(labels[faces], minlength=8) / len(faces)
    calibrated = estimate_prior(probs[faces], source, "em", n_boot=20).prior
    raw, _ = em_prior(probs[faces], source.prior)
    error = {
        name: 0.5 * np.abs(p - truth).sum()
        for name, p in [("calibrated", calibrated), ("raw", raw)]
    }
    # From 1,000 faces the calibrated estimate's total-variation error moves between about 0.05
    # and 0.12 with the draw (seeds 0-4 of this fixture on the 60-epoch bundle's soft rows), the
    # raw one's between 0.40 and 0.53: the claim is the ratio, not a bundle's exact figure.
    assert error["raw"] > 0.3
    assert error["calibrated"] < min(0.15, error["raw"] / 3)
