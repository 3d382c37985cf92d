"""bnnfer.evaluation.annotators on simulated crowds: annotators with known confusion matrices
(careful, sloppy, answering at random) on synthetic faces are ranked in that order, Dawid–Skene
(crowd-kit) recovers their matrices and accuracies, models take their place among them, and the
Dawid–Skene posterior serves as the reference of the metrics against people."""

from __future__ import annotations

import sys
from itertools import product

import numpy as np
import pytest
from helpers.crowds import ACCURACY, PEOPLE, kind, needs_crowd_kit, simulate

from bnnfer.constants import NUM_CLASSES
from bnnfer.data.split import Annotations, FerPlusSplit
from bnnfer.data.votes import vote_distribution
from bnnfer.evaluation import annotators, humans
from bnnfer.evaluation.annotators import (
    COLUMNS,
    lone_dissent,
    posterior_confusion,
    reference_distribution,
    score_annotators,
)


@pytest.fixture(scope="module")
def crowd():
    return simulate()


@pytest.fixture(scope="module")
def fit(crowd):
    return annotators.dawid_skene(crowd[0])


def _by_name(scores) -> dict[str, dict]:
    return {row["annotator"]: row for _, row in scores.table.iterrows()}


def test_agreement_ranks_careful_over_sloppy_over_random(crowd):
    annotations, votes, _, _ = crowd
    scores = score_annotators(annotations, votes, n_boot=200)
    table = scores.table
    assert list(table.columns) == list(COLUMNS)
    assert [kind(n) for n in table["annotator"]] == ["careful"] * 3 + ["sloppy"] * 3 + ["random"]
    assert set(table["kind"]) == {"person"} and table["votes"].sum() == len(annotations.face)
    assert (table["agreement_low"] <= table["agreement"]).all()
    assert (table["agreement"] <= table["agreement_high"]).all()
    careful = table[table["annotator"].str.startswith("careful")]
    assert ((careful["agreement_high"] - careful["agreement_low"]) < 0.12).all()
    # the worst careful annotator's interval lies above the best sloppy one's
    sloppy = table[table["annotator"].str.startswith("sloppy")]
    assert careful["agreement_low"].min() > sloppy["agreement_high"].max()


def test_agreement_is_each_vote_against_the_others_plurality(crowd):
    # brute force: each of an annotator's votes removed from its face, the rest's plurality
    annotations, votes, _, _ = crowd
    scores = _by_name(score_annotators(annotations, votes, n_boot=10))
    for a, name in enumerate(PEOPLE):
        credits = []
        for face, answer in zip(
            annotations.face[annotations.annotator == a],
            annotations.answer[annotations.annotator == a],
            strict=True,
        ):
            others = votes[face].copy()
            others[answer] -= 1
            tops = np.flatnonzero(others == others.max())
            credits.append((answer in tops) / len(tops))
        assert scores[name]["agreement"] == pytest.approx(np.mean(credits))


def test_a_lone_dissent_is_a_vote_against_a_unanimous_rest():
    # brute force over every split of up to 4 other votes between 3 answers, and every answer
    for others in product(range(4), repeat=3):
        for answer in range(3):
            named = [c for c in range(3) if others[c] > 0]
            expected = sum(others) >= 2 and len(named) == 1 and named[0] != answer
            got = lone_dissent(np.array([others]), np.array([answer]))[0]
            assert got == expected, (others, answer)


def test_models_are_rows_among_the_annotators(crowd):
    annotations, votes, truth, _ = crowd
    right = np.eye(NUM_CLASSES)[truth]  # a model that always names the true emotion
    wrong = np.eye(NUM_CLASSES)[(truth + 1) % NUM_CLASSES]  # one that never does
    scores = score_annotators(
        annotations, votes, {"right": right, "wrong": wrong}, {"right": "Right"}, n_boot=50
    )
    rows = _by_name(scores)
    assert rows["Right"]["kind"] == rows["wrong"]["kind"] == "model"
    assert rows["Right"]["votes"] == len(votes)
    assert scores.table["annotator"].iloc[0] == "Right"  # above every person
    assert rows["wrong"]["agreement"] < rows["random"]["agreement"]
    # against the plurality of all the human votes: the model's vote is left out again
    expected = humans.plurality_credit(humans.with_model_vote(votes, right), truth)
    tops = votes == votes.max(axis=1, keepdims=True)
    assert np.allclose(expected, tops[np.arange(len(votes)), truth] / tops.sum(axis=1))
    assert rows["Right"]["agreement"] == pytest.approx(expected.mean())
    # dissents: faces where all humans (2 or more) agree on one answer and the model names another
    unanimous = (votes.max(axis=1) == votes.sum(axis=1)) & (votes.sum(axis=1) >= 2)
    assert rows["wrong"]["dissents"] == int(unanimous.sum())
    position = list(scores.table["annotator"]).index("wrong")
    np.testing.assert_array_equal(scores.dissents[position], np.flatnonzero(unanimous))


@needs_crowd_kit
def test_dawid_skene_recovers_the_confusion_matrices(crowd, fit):
    annotations, votes, truth, matrices = crowd
    assert fit.posterior.shape == (len(votes), 10) and np.allclose(fit.posterior.sum(axis=1), 1)
    assert (fit.posterior[:, :NUM_CLASSES].argmax(axis=1) == truth).mean() > 0.95
    for a, name in enumerate(PEOPLE):
        mine = annotations.annotator == a
        estimated = fit.confusion[a][:NUM_CLASSES, :NUM_CLASSES]
        # against the matrix the simulation drew (sampling noise: ~30 votes on a rare emotion)
        assert np.abs(estimated - matrices[name]).mean() < 0.05, name
        # against the matrix of what this annotator answered on the faces' true emotions
        truth_of = np.eye(NUM_CLASSES)[truth[annotations.face[mine]]]
        drawn = posterior_confusion(truth_of, annotations.answer[mine])
        assert np.abs(estimated - drawn).mean() < 0.02, name
        assert np.abs(np.diag(estimated - drawn)).max() < 0.1, name
    accuracy = fit.accuracy()
    for a, name in enumerate(PEOPLE):
        assert accuracy[a] == pytest.approx(ACCURACY[kind(name)], abs=0.06), name


@needs_crowd_kit
def test_crowd_kit_matrices_are_the_m_step_of_its_posterior(crowd, fit):
    # an independent check of the matrices read from crowd-kit: its last M-step, redone here
    annotations, _, _, _ = crowd
    for a in range(len(PEOPLE)):
        mine = annotations.annotator == a
        redone = posterior_confusion(
            fit.posterior[annotations.face[mine]], annotations.answer[mine]
        )
        np.testing.assert_allclose(redone, fit.confusion[a], atol=1e-6)


@needs_crowd_kit
def test_the_ranking_by_dawid_skene_accuracy_and_the_models_matrices(crowd, fit):
    annotations, votes, truth, _ = crowd
    right = np.eye(NUM_CLASSES)[truth]
    scores = score_annotators(annotations, votes, {"right": right}, n_boot=20, fit=fit)
    table = scores.table
    assert list(table.columns) == [*COLUMNS, *annotators.DS_COLUMNS]
    people = table[table["kind"] == "person"].sort_values("ds_accuracy", ascending=False)
    assert [kind(n) for n in people["annotator"]] == ["careful"] * 3 + ["sloppy"] * 3 + ["random"]
    rows = _by_name(scores)
    assert rows["right"]["ds_accuracy"] > 0.95  # the truth, as the posterior has it
    position = list(table["annotator"]).index("right")
    matrix = scores.confusion[position]
    assert np.diag(matrix)[:NUM_CLASSES].min() > 0.85 and np.trace(matrix) / NUM_CLASSES > 0.93
    assert len(scores.confusion) == len(table) and scores.note == ""
    assert scores.answers == tuple(range(NUM_CLASSES))


@needs_crowd_kit
def test_the_dawid_skene_reference_is_the_posterior_over_the_emotions(crowd, fit):
    annotations, votes, _, _ = crowd
    reference = reference_distribution(votes, "dawid-skene", fit)
    expected = fit.posterior[:, :NUM_CLASSES] / fit.posterior[:, :NUM_CLASSES].sum(1)[:, None]
    np.testing.assert_allclose(reference, expected)
    np.testing.assert_array_equal(reference_distribution(votes), vote_distribution(votes))
    split = _split(annotations, votes)
    read = annotators.read_crowd(split, "dawid-skene")
    np.testing.assert_allclose(read.distribution, reference)
    assert annotators.read_crowd(split).fit is not None  # fitted for the table all the same


def _split(annotations: Annotations | None, votes: np.ndarray) -> FerPlusSplit:
    n = len(votes)
    images = np.zeros((n, 48, 48), dtype=np.uint8)
    names = np.array([f"{i}.png" for i in range(n)])
    return FerPlusSplit("all", images, votes, names, annotations=annotations)


def test_the_dawid_skene_reference_needs_names_and_crowd_kit(crowd, monkeypatch):
    annotations, votes, _, _ = crowd
    with pytest.raises(ValueError, match=r"needs the annotators' names.*annotations\.csv"):
        annotators.read_crowd(_split(None, votes), "dawid-skene")
    with pytest.raises(ValueError, match="reference must be one of"):
        annotators.read_crowd(_split(None, votes), "plurality")
    with pytest.raises(ValueError, match="needs a crowd with its annotators' names"):
        reference_distribution(votes, "dawid-skene")
    monkeypatch.setitem(sys.modules, "crowdkit.aggregation", None)  # as if not installed
    split = _split(annotations, votes)
    with pytest.raises(
        ValueError, match=r'crowd-kit, an optional extra: pip install -e "\.\[crowd'
    ):
        annotators.read_crowd(split, "dawid-skene")
    read = annotators.read_crowd(split)
    assert read.fit is None and "pip install" in read.note
    scores = score_annotators(annotations, votes, n_boot=5, note=read.note)
    assert "ds_accuracy" not in scores.table.columns and scores.confusion == []
    assert "pip install" in annotators.markdown(scores)


def test_the_markdown_lists_the_first_people_and_every_model(crowd):
    annotations, votes, truth, _ = crowd
    scores = score_annotators(annotations, votes, {"m": np.eye(8)[truth]}, n_boot=5)
    text = annotators.markdown(scores, shown=2)
    assert "The first 2 people are shown; annotators.csv holds all" in text
    assert text.count("| person |") == 2 and text.count("| model |") == 1


def test_inputs_are_checked(crowd):
    annotations, votes, _, _ = crowd
    with pytest.raises(ValueError, match="annotations must count to votes"):
        score_annotators(annotations, votes + 1)
    other = annotators.DawidSkene(np.zeros((3, 10)), np.zeros(10), np.zeros((2, 10, 10)))
    with pytest.raises(ValueError, match="fit must be Dawid–Skene of these annotations"):
        score_annotators(annotations, votes, fit=other)
    with pytest.raises(ValueError, match=r"answers must index"):
        posterior_confusion(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"posterior must be \(N, K\)"):
        posterior_confusion(np.full((2, 3), 1 / 3), np.array([0]))
