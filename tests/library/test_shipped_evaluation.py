"""The evaluation shipped in bnnfer/assets/evaluation: made by the bundled models (their manifest
digest), holds every bundled row and no pixels, stays small, and its metrics are what its own
samples give."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnnfer.data.votes import plurality_label, vote_distribution
from bnnfer.evaluation import baselines, humans, metrics
from bnnfer.evaluation.predictions import models_digest, read_predictions
from bnnfer.inference.store import evaluation_predictions
from bnnfer.training import bundle

FOLDER = bundle.DEFAULT_EVALUATION_DIR
MAX_BYTES = 15 * 2**20


@pytest.fixture(scope="module")
def shipped():
    document = json.loads((FOLDER / "metrics.json").read_text())
    meta, arrays = read_predictions(FOLDER / f"predictions-{document['split']}.npz")
    return document, meta, arrays


def test_it_matches_the_bundled_models(shipped):
    document, meta, _ = shipped
    digest = models_digest(bundle.DEFAULT_BUNDLE_DIR)
    assert document["models_digest"] == digest, (
        "bnnfer/assets/evaluation was made by other models than bnnfer/assets/models: "
        "regenerate it with "
        "`bnnfer evaluate --split valid --out bnnfer/assets/evaluation --compact`"
    )
    assert meta["models_digest"] == digest
    rows = [row.key for row in bundle.read_registry()]
    assert meta["methods"] == rows and list(document["metrics"]) == rows


def test_it_holds_votes_and_samples_only(shipped):
    _, meta, arrays = shipped
    n = len(arrays["names"])
    assert meta["split"] == "valid" and n == meta["faces"] > 3000
    assert arrays["votes"].shape == (n, 10) and arrays["votes"].dtype == np.uint8
    samples = {k: v for k, v in arrays.items() if k.endswith(".samples")}
    assert set(arrays) == {"names", "votes", *samples}  # nothing image-shaped
    for key, array in samples.items():
        assert array.dtype == np.float16 and array.shape[1:] == (n, 8), key
    for key in meta["placements"]:
        assert samples[f"{key}.samples"].shape[0] == meta["samples"] == 30
    assert samples["ensemble.samples"].shape[0] == 5
    size = sum(p.stat().st_size for p in FOLDER.iterdir())
    assert size <= MAX_BYTES, f"bnnfer/assets/evaluation holds {size / 2**20:.1f} MB"


def test_its_metrics_are_those_of_its_samples(shipped):
    document, _, arrays = shipped
    preds = evaluation_predictions(
        FOLDER / "predictions-valid.npz", document["models_digest"], samples=30
    )
    labels = plurality_label(arrays["votes"].astype(np.int64))
    votes = vote_distribution(arrays["votes"].astype(np.int64))
    for key in ("classical", "mc_dropout", "ensemble"):
        recorded = document["metrics"][key]
        probs = preds.mean(key)
        # float16 samples: within 1e-3 of what the float32 evaluation measured
        assert metrics.accuracy(probs, labels) == pytest.approx(
            recorded["accuracy"]["value"], abs=1e-3
        )
        assert float(metrics.js_divergence(votes, probs).mean()) == pytest.approx(
            recorded["jsd"]["value"], abs=1e-3
        )


def test_its_human_baselines_are_those_of_its_votes_and_samples(shipped):
    document, _, arrays = shipped
    preds = evaluation_predictions(
        FOLDER / "predictions-valid.npz", document["models_digest"], samples=30
    )
    recorded = baselines.from_json(document["human_baselines"])
    votes = arrays["votes"].astype(np.int64)
    assert recorded.faces == len(votes) and recorded.max_k == 9
    curve = np.nanmean(humans.crowd_curve(votes), axis=0)
    np.testing.assert_allclose([value for value, _, _ in recorded.curve], curve, atol=1e-12)
    assert set(recorded.rows) == set(document["metrics"])
    for key in ("classical", "ensemble_soft"):
        agreement = float(humans.model_agreement(preds.mean(key), votes).mean())
        row = recorded.rows[key]
        assert agreement == pytest.approx(row.agreement[0], abs=1e-3)  # float16 samples
        assert row.agreement[1] <= row.agreement[0] <= row.agreement[2]
        assert humans.worth_annotators(curve, row.agreement[0]) == pytest.approx(row.worth[0])
