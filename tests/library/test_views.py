"""bnnfer.evaluation.views and the paired comparison of bnnfer.evaluation, on hand-made predictions:
the face table against direct computation, filters, the rejection curve and confusion matrix on
cases with known answers, the paired intervals, and the paper-claim verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnnfer.constants import EMOTIONS
from bnnfer.evaluation import metrics, views
from bnnfer.evaluation.registry import METRICS, paired_difference, per_face, summarise
from bnnfer.inference.cache import SplitPredictions

N, C = 60, 8


def _votes(rng: np.random.Generator) -> np.ndarray:
    """(N, 10) vote counts: 10 annotators, a dominant emotion per face, no unknown/NF."""
    votes = np.zeros((N, 10), dtype=np.int64)
    for i in range(N):
        main = i % C
        agreeing = rng.integers(4, 11)
        votes[i, main] = agreeing
        others = rng.choice([c for c in range(C) if c != main], 10 - agreeing)
        np.add.at(votes[i], others, 1)
    return votes


def _preds(samples: dict[str, np.ndarray], votes: np.ndarray) -> SplitPredictions:
    names = np.array([f"fer{i:07d}.png" for i in range(N)])
    images = np.zeros((N, 48, 48), dtype=np.uint8)
    return SplitPredictions("valid", names, images, votes, samples, "computed")


@pytest.fixture(scope="module")
def preds() -> SplitPredictions:
    rng = np.random.default_rng(0)
    votes = _votes(rng)
    dist = votes[:, :C] / votes[:, :C].sum(axis=1, keepdims=True)
    samples = {
        # close to the votes, with MC spread
        "mc_dropout": np.stack([rng.dirichlet(a, size=5) for a in dist * 20 + 0.1], axis=1),
        # overconfident one-hot-ish copy of the plurality, one sample
        "classical": (np.eye(C)[dist.argmax(1)] * 0.93 + 0.01)[None],
    }
    return _preds({k: v.astype(np.float32) for k, v in samples.items()}, votes)


def test_faces_frame_matches_direct_computation(preds):
    frame = views.faces_frame(preds, ["classical", "mc_dropout"])
    human = preds.human
    assert len(frame) == N and list(frame["name"]) == list(preds.names)
    assert list(frame["human"]) == [EMOTIONS[i] for i in human["plurality"]]
    mean = preds.mean("mc_dropout")
    np.testing.assert_allclose(frame["mc_dropout:entropy"], metrics.entropy(mean))
    np.testing.assert_allclose(
        frame["mc_dropout:jsd"], metrics.js_divergence(human["distribution"], mean)
    )
    np.testing.assert_array_equal(frame["mc_dropout:correct"], mean.argmax(1) == human["plurality"])
    assert np.all(frame["classical:mi"] < 1e-12)  # one sample: no epistemic part
    np.testing.assert_allclose(
        frame["disagreement"],
        metrics.js_divergence(preds.mean("classical"), mean),
    )


def test_filters_and_presets(preds):
    frame = views.faces_frame(preds, ["classical", "mc_dropout"])
    kept = views.apply_filters(frame, views.Filters(human=["anger"], agreement=(0.6, 1.0)))
    expected = (frame["human"] == "anger") & (frame["agreement"] >= 0.6)
    assert len(kept) == int(expected.sum()) > 0
    wrong = views.apply_filters(frame, views.Filters(method="mc_dropout", correct=False))
    assert len(wrong) == int((~frame["mc_dropout:correct"]).sum())
    ambiguous = views.apply_preset(frame, "most ambiguous to people", "mc_dropout")
    assert ambiguous["vote_entropy"].is_monotonic_decreasing
    split = views.apply_preset(frame, "models sure but people split", "mc_dropout")
    assert (split["agreement"] <= 0.5).all()
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        views.apply_preset(frame, "nope", "mc_dropout")
    with pytest.raises(ValueError, match="unknown sort"):
        views.sort_faces(frame, "colour", "mc_dropout")


def test_rejection_curve_on_a_case_with_a_known_answer():
    # 40 faces: the 10 the model gets wrong are exactly its 10 most uncertain, so setting
    # aside 25% leaves only right answers and the curve climbs from 0.75 to 1.
    rng = np.random.default_rng(1)
    votes = _votes(rng)[:40]
    plurality = (votes[:, :C]).argmax(1)
    probs = np.full((40, C), 0.01)
    probs[np.arange(40), plurality] = 0.93  # sure and right
    wrong = np.arange(30, 40)
    probs[wrong] = 1.0 / C  # unsure ...
    probs[wrong, (plurality[wrong] + 1) % C] += 0.01  # ... and wrong
    probs /= probs.sum(1, keepdims=True)
    preds = SplitPredictions(
        "valid",
        np.arange(40).astype(str),
        np.zeros((40, 48, 48), np.uint8),
        votes,
        {"m": probs[None].astype(np.float32)},
        "computed",
    )
    curve = views.rejection_curve(preds, "m", points=20)
    assert curve["accuracy"].iloc[0] == pytest.approx(0.75)
    assert curve.loc[curve["rejected"] >= 0.25 - 1e-9, "accuracy"].min() == pytest.approx(1.0)
    matrix = views.confusion(preds, "m")
    assert matrix.sum() == 40 and np.trace(matrix) == 30


def test_paired_difference_against_itself_and_against_a_worse_copy(preds):
    human = preds.human
    faces = per_face(preds.samples["mc_dropout"], human["plurality"], human["distribution"])
    jsd = METRICS["jsd"]  # scored on all resamples at once (its resampled form)
    assert paired_difference(jsd, faces, faces, n_boot=50) == (0.0, 0.0, 0.0)
    # the same faces, a uniformly flattened copy: farther from the votes on every face
    flat = per_face(
        0.5 * preds.samples["mc_dropout"] + 0.5 / C, human["plurality"], human["distribution"]
    )
    value, low, high = paired_difference(jsd, flat, faces, n_boot=200)
    assert value == pytest.approx(jsd.value(flat) - jsd.value(faces))
    assert 0 < low <= value <= high
    # pairing removes the face-to-face variation both share: narrower than either interval
    _, lo_a, hi_a = summarise(jsd, flat, n_boot=200)
    assert high - low < hi_a - lo_a
    short = per_face(
        preds.samples["mc_dropout"][:, :10], human["plurality"][:10], human["distribution"][:10]
    )
    with pytest.raises(ValueError, match="paired faces differ in number: 10 and 60"):
        paired_difference(jsd, short, faces, n_boot=5)


def test_comparison_table_has_paired_columns_and_claims(preds):
    labels = {"classical": "Classical", "mc_dropout": "MC-Dropout"}
    table = views.comparison_table(preds, ["classical", "mc_dropout"], labels, n_boot=100)
    assert list(table["method"]) == ["Classical", "MC-Dropout"]
    row = table.set_index("key").loc["mc_dropout"]
    assert row["jsd_vs_classical"] == pytest.approx(
        row["jsd"] - table.set_index("key").loc["classical", "jsd"]
    )
    assert np.isnan(table.set_index("key").loc["classical", "jsd_vs_classical"])
    # the MC samples were drawn around the votes; the classical copy is overconfident
    assert row["jsd_vs_classical_high"] < 0
    claim1, claim2 = views.paper_claims(table)
    assert claim1["verdict"].startswith("holds")
    assert claim2["verdict"]


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _row(key, jsd, ece, human_ece, paired=None):
    row = {
        "key": key,
        "jsd": jsd[0],
        "jsd_low": jsd[1],
        "jsd_high": jsd[2],
        "ece": ece,
        "human_ece": human_ece,
    }
    if paired is not None:
        row.update(
            jsd_vs_classical=paired[0],
            jsd_vs_classical_low=paired[1],
            jsd_vs_classical_high=paired[2],
        )
    return row


def test_claim_verdicts_read_the_paired_interval_first():
    classical = _row("classical", (0.085, 0.081, 0.088), 0.02, 0.11, (np.nan,) * 3)
    # marginal intervals overlap, but the paired difference excludes 0
    ensemble = _row("ensemble", (0.080, 0.077, 0.083), 0.01, 0.10, (-0.005, -0.006, -0.004))
    dropout = _row("mc_dropout", (0.085, 0.082, 0.088), 0.019, 0.08, (0.0, -0.001, 0.001))
    claims = views.paper_claims(_table([classical, ensemble, dropout]))
    assert claims[0]["verdict"] == "holds in part: closer for ensemble; the others are tied"
    labelled = _table([classical, ensemble, dropout]).assign(
        method=["Classical", "Ensemble (5)", "MC-Dropout"]
    )
    verdict = views.paper_claims(labelled)[0]["verdict"]
    assert verdict == "holds in part: closer for Ensemble (5); the others are tied"
    # the ECE order (ensemble, dropout, classical) differs from the human-ECE order
    assert claims[1]["verdict"].startswith("holds")


def test_claim_1_names_the_controls_that_are_closer_too():
    classical = _row("classical", (0.085, 0.081, 0.088), 0.02, 0.11, (np.nan,) * 3)
    ensemble = _row("ensemble", (0.080, 0.077, 0.083), 0.01, 0.10, (-0.005, -0.006, -0.004))
    soft = _row("classical_soft", (0.079, 0.076, 0.081), 0.10, 0.01, (-0.006, -0.008, -0.004))
    tied = _row("classical_ts", (0.084, 0.081, 0.087), 0.02, 0.10, (-0.0003, -0.001, 0.0004))
    table = _table([classical, ensemble, soft, tied])
    verdict = views.paper_claims(table)[0]["verdict"]
    assert verdict == (
        "holds: every Bayesian method is closer to the votes (JSD, paired intervals); "
        "closer too without Bayesian inference: classical_soft"
    )
    # a tied control is not named; neither is one when none is closer
    alone = views.paper_claims(_table([classical, ensemble, tied]))[0]["verdict"]
    assert "without Bayesian" not in alone


def test_claim_verdicts_fall_back_to_the_marginal_intervals():
    classical = _row("classical", (0.085, 0.081, 0.088), 0.02, 0.11)
    apart = _row("ensemble", (0.070, 0.067, 0.073), 0.03, 0.12)
    claims = views.paper_claims(_table([classical, apart]))
    assert claims[0]["verdict"].startswith("holds: every Bayesian method")
    assert claims[1]["verdict"].startswith("not visible here")
    overlapping = _row("ensemble", (0.084, 0.080, 0.087), 0.03, 0.12)
    claims = views.paper_claims(_table([classical, overlapping]))
    assert claims[0]["verdict"].startswith("not shown")
    assert views.paper_claims(_table([overlapping])) == []  # no classical row: no verdict


def test_comparison_from_evaluation_only_when_it_matches(preds):
    cell = {"value": 0.5, "low": 0.4, "high": 0.6}
    document = {
        "models_digest": "abc",
        "split": "valid",
        "samples": 5,
        "n_boot": 1000,
        "metrics": {k: {m: cell for m in views.OVERVIEW_METRICS} for k in preds.samples},
        "minus_classical": {"mc_dropout": {"jsd": {"value": -0.01, "low": -0.02, "high": -0.005}}},
    }
    labels = {"classical": "Classical", "mc_dropout": "MC-Dropout"}
    keys = ["classical", "mc_dropout"]
    table = views.comparison_from_evaluation(document, preds, keys, labels, "abc")
    assert list(table["S"]) == [1, 5] and list(table["accuracy_high"]) == [0.6, 0.6]
    assert table.set_index("key").loc["mc_dropout", "jsd_vs_classical_high"] == -0.005
    assert views.paper_claims(table)[0]["verdict"].startswith("holds")
    assert views.comparison_from_evaluation(document, preds, keys, labels, "other") is None
    assert (
        views.comparison_from_evaluation({**document, "samples": 30}, preds, keys, labels, "abc")
        is None
    )
    assert (
        views.comparison_from_evaluation({**document, "split": "test"}, preds, keys, labels, "abc")
        is None
    )
    missing = {**document, "metrics": {"classical": document["metrics"]["classical"]}}
    assert views.comparison_from_evaluation(missing, preds, keys, labels, "abc") is None
