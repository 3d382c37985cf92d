"""The human baselines (`bnnfer.evaluation.humans`, `bnnfer.evaluation.baselines`): each per-face
function against a brute-force enumeration over the annotators of small vote vectors, analytic
values, the reliability coefficients against their formulas, and bad arguments."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest

from bnnfer.evaluation import baselines, humans, metrics


def _annotators(counts) -> list[int]:
    return [answer for answer, n in enumerate(counts) for _ in range(n)]


def _credit(crowd: list[int], held_out: int, width: int) -> float:
    """1/t if the held-out answer is among the t tied top answers of the crowd, else 0."""
    tally = np.bincount(crowd, minlength=width)
    top = tally.max()
    return float(tally[held_out] == top) / int((tally == top).sum())


def brute_crowd(counts, k: int) -> float:
    """Every held-out annotator, every set of k others: the mean credit."""
    people = _annotators(counts)
    values = []
    for h, held_out in enumerate(people):
        others = people[:h] + people[h + 1 :]
        for crowd in itertools.combinations(others, k):
            values.append(_credit(list(crowd), held_out, len(counts)))
    return float(np.mean(values))


VECTORS = [(3, 2, 1, 0), (5, 5, 0, 0), (4, 1, 1, 1), (2, 0, 0, 1), (1, 1, 1, 1), (6, 0, 0, 0)]


@pytest.mark.parametrize("counts", VECTORS)
def test_crowd_curve_equals_brute_force_enumeration(counts) -> None:
    curve = humans.crowd_curve(np.array([counts]))[0]
    expected = [brute_crowd(counts, k) for k in range(1, sum(counts))]
    np.testing.assert_allclose(curve, expected, atol=1e-12)


def test_pairwise_agreement_equals_brute_force_and_the_crowd_of_one() -> None:
    votes = np.array(VECTORS)
    pairs = []
    for counts in VECTORS:
        people = _annotators(counts)
        same = [a == b for a, b in itertools.permutations(people, 2)]
        pairs.append(np.mean(same))
    np.testing.assert_allclose(humans.pairwise_agreement(votes), pairs, atol=1e-12)
    np.testing.assert_allclose(humans.crowd_curve(votes)[:, 0], pairs, atol=1e-12)


def test_curve_is_nan_where_a_face_has_too_few_votes() -> None:
    curve = humans.crowd_curve(np.array([[2, 1, 0], [1, 1, 0]]))
    assert curve.shape == (2, 2)
    assert np.isfinite(curve[0]).all() and np.isnan(curve[1, 1])
    assert np.isnan(humans.pairwise_agreement(np.array([[1, 0, 0]])))[0]


def test_unanimous_faces_always_agree_and_a_two_two_split_ties() -> None:
    np.testing.assert_allclose(humans.crowd_curve(np.array([[4, 0]]))[0], [1, 1, 1])
    # a 2-2 face, A held out, others A B B: one other agrees with chance 1/3; two others tie
    # (credit 1/2) with chance 2/3, the same 1/3 (an even crowd's random tie-break is the crowd
    # one smaller); all three others say B.
    np.testing.assert_allclose(humans.crowd_curve(np.array([[2, 2]]))[0], [1 / 3, 1 / 3, 0])


def test_plurality_credit_is_the_leave_one_out_crowd() -> None:
    votes = np.array(VECTORS)
    for k, counts in enumerate(VECTORS):
        people = _annotators(counts)
        cast = np.array([people[0]])
        expected = _credit(people[1:], people[0], len(counts))
        assert humans.plurality_credit(votes[k : k + 1], cast)[0] == pytest.approx(expected)
    # averaged over a face's votes it is the crowd of n - 1
    counts = np.array([[3, 2, 1, 0]])
    each = [humans.plurality_credit(counts, np.array([a]))[0] for a in _annotators(counts[0])]
    assert np.mean(each) == pytest.approx(humans.crowd_curve(counts)[0, -1])
    with pytest.raises(ValueError, match="among its face's votes"):
        humans.plurality_credit(counts, np.array([3]))


def test_model_agreement_and_log_scores_by_hand() -> None:
    votes = np.array([[6, 2, 0, 2], [0, 1, 3, 0]])  # last column: an answer models cannot give
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])
    np.testing.assert_allclose(humans.model_agreement(probs, votes), [0.6, 0.25])
    expected = [
        (6 * math.log(0.5) + 2 * math.log(0.25)) / 8,
        (math.log(0.6) + 3 * math.log(0.3)) / 4,
    ]
    np.testing.assert_allclose(humans.held_out_log_score(probs, votes), expected)
    a = humans.KT_SMOOTHING
    crowd = [
        (6 * math.log((5 + a) / (7 + 3 * a)) + 2 * math.log((1 + a) / (7 + 3 * a))) / 8,
        (math.log(a / (3 + 3 * a)) + 3 * math.log((2 + a) / (3 + 3 * a))) / 4,
    ]
    np.testing.assert_allclose(humans.crowd_log_score(votes, classes=3), crowd)


def test_worth_annotators_interpolates_and_says_below_and_above() -> None:
    curve = np.array([0.6, 0.6, 0.7, 0.75])
    assert humans.worth_annotators(curve, 0.65) == pytest.approx(2.5)
    assert humans.worth_annotators(curve, 0.6) == 1.0
    assert humans.worth_annotators(curve, 0.75) == pytest.approx(4.0)
    assert humans.worth_annotators(curve, 0.5) == humans.BELOW_ONE
    assert humans.worth_annotators(curve, 0.8) == humans.ABOVE_ALL
    many = humans.worth_annotators(np.stack([curve, curve + 0.05]), np.array([0.65, 0.65]))
    np.testing.assert_allclose(many, [2.5, 1.0])
    with pytest.raises(ValueError, match="takes"):
        humans.worth_annotators(np.stack([curve, curve]), 0.65)


def test_fleiss_kappa_and_alpha_against_their_formulas() -> None:
    rng = np.random.default_rng(0)
    votes = rng.multinomial(5, [0.5, 0.3, 0.2], size=40)
    shares = votes.sum(axis=0) / votes.sum()
    expected_chance = (shares**2).sum()
    observed = humans.pairwise_agreement(votes).mean()
    kappa = (observed - expected_chance) / (1 - expected_chance)
    assert humans.fleiss_kappa(votes) == pytest.approx(kappa)
    # nominal alpha from the coincidence matrix (Krippendorff 2011, section E)
    n_u = votes.sum(axis=1, keepdims=True)
    o = (votes[:, :, None] * votes[:, None, :] - np.einsum("uc,cd->ucd", votes, np.eye(3))) / (
        n_u[:, :, None] - 1
    )
    o = o.sum(axis=0)
    n_c, n = o.sum(axis=1), o.sum()
    d_o = (n - np.trace(o)) / n
    d_e = (n * n - (n_c**2).sum()) / (n * (n - 1))
    assert humans.krippendorff_alpha(votes) == pytest.approx(1 - d_o / d_e)
    with pytest.raises(ValueError, match="same number"):
        humans.fleiss_kappa(np.array([[2, 1], [1, 1]]))
    unanimous = np.array([[3, 0], [3, 0]])  # no disagreement to measure against: undefined
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(humans.fleiss_kappa(unanimous))
        assert np.isnan(humans.krippendorff_alpha(unanimous))


def test_with_model_vote_adds_one_vote_for_the_top_answer() -> None:
    votes = np.array([[1, 2, 0], [0, 0, 3]])
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    np.testing.assert_array_equal(humans.with_model_vote(votes, probs), [[2, 2, 0], [0, 1, 3]])


@pytest.mark.parametrize(
    ("votes", "match"),
    [
        (np.array([1, 2]), "must be"),
        (np.array([[1, -1]]), ">= 0"),
        (np.array([[0.5, 1.0]]), "whole"),
        (np.zeros((0, 3), int), "empty"),
    ],
)
def test_bad_votes_are_clear_errors(votes, match) -> None:
    with pytest.raises(ValueError, match=match):
        humans.pairwise_agreement(votes)


def test_bad_probs_are_clear_errors() -> None:
    votes = np.array([[1, 2, 0]])
    with pytest.raises(ValueError, match="probs must be"):
        humans.model_agreement(np.array([[0.5, 0.5, 0.0, 0.0]]), votes)
    with pytest.raises(ValueError, match="sum to 1"):
        humans.model_agreement(np.array([[0.5, 0.6]]), votes)
    with pytest.raises(ValueError, match="classes"):
        humans.crowd_log_score(votes, classes=5)


def test_metrics_module_names_the_human_baselines() -> None:
    assert metrics.crowd_curve is humans.crowd_curve
    assert metrics.worth_annotators is humans.worth_annotators


def _synthetic(n_faces: int = 300, annotators: int = 7, seed: int = 1):
    """Faces with a true answer of 4; annotators right with chance 0.7; a model that sees the
    truth with chance 0.8 and says so with most of its mass."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_faces)
    right = rng.random((n_faces, annotators)) < 0.7
    answers = np.where(right, truth[:, None], rng.integers(0, 4, (n_faces, annotators)))
    votes = np.stack([np.bincount(row, minlength=5) for row in answers])  # column 4: unknown
    guess = np.where(rng.random(n_faces) < 0.8, truth, rng.integers(0, 4, n_faces))
    probs = np.full((n_faces, 4), 0.1)
    probs[np.arange(n_faces), guess] = 0.7
    return votes, probs


def test_baselines_summary_places_rows_and_round_trips_through_json() -> None:
    votes, probs = _synthetic()
    result = baselines.human_baselines(votes, {"model": probs}, n_boot=200, reliability_boot=20)
    assert result.max_k == 6 and result.faces == 300 and len(result.curve) == 6
    curve = np.nanmean(humans.crowd_curve(votes), axis=0)
    np.testing.assert_allclose([c[0] for c in result.curve], curve)
    row = result.rows["model"]
    assert row.agreement[0] == pytest.approx(humans.model_agreement(probs, votes).mean())
    assert row.worth[0] == pytest.approx(humans.worth_annotators(curve, row.agreement[0]))
    for low_value_high in (result.pairwise, row.agreement, row.log_score, result.alpha):
        assert low_value_high[1] <= low_value_high[0] <= low_value_high[2]
    assert result.emotion_share == 1.0  # nobody answered the fifth column
    again = baselines.from_json(json.loads(json.dumps(baselines.to_json(result))))
    assert again == result
    text = baselines.markdown(result, {"model": "My model"})
    assert "| My model |" in text and "two distinct annotators agree" in text
    sentence = baselines.worth_sentence("My model", row.worth, result.max_k)
    assert sentence.startswith("My model: worth")


def test_a_perfect_model_is_above_every_crowd_and_a_wrong_one_below_one() -> None:
    votes, _ = _synthetic()
    truth = votes[:, :4].argmax(axis=1)
    perfect = np.eye(4)[truth] * 0.96 + 0.01
    wrong = np.eye(4)[(truth + 1) % 4] * 0.96 + 0.01
    result = baselines.human_baselines(
        votes, {"best": perfect, "worst": wrong}, n_boot=50, reliability_boot=5
    )
    assert result.rows["best"].worth[0] == humans.ABOVE_ALL
    assert result.rows["worst"].worth[0] == humans.BELOW_ONE
    assert "more than the crowd of 6" in baselines.worth_sentence(
        "best", result.rows["best"].worth, 6
    )
