"""benchmarks/ensemble_mix.py: each network counted once (an ensemble's members one by one, an
MC row by its predictive mean), the paired interval on hand-made answers, and the whole script
on a small predictions file of its own."""

from __future__ import annotations

import json

import ensemble_mix
import numpy as np
import pytest


def test_networks_are_the_members_and_the_mc_means():
    rng = np.random.default_rng(0)
    arrays = {
        "ensemble.samples": rng.dirichlet(np.ones(8), (5, 4)).astype(np.float16),
        "mc_dropout_soft.samples": rng.dirichlet(np.ones(8), (30, 4)).astype(np.float16),
    }
    stacked = ensemble_mix.networks(arrays, ["ensemble", "mc_dropout_soft"])
    assert stacked.shape == (6, 4, 8)
    arrays["ensemble_soft.samples"] = arrays["ensemble.samples"][:3]
    assert ensemble_mix.networks(arrays, ["ensemble_soft"]).shape == (3, 4, 8)  # its members
    np.testing.assert_allclose(stacked[:5], arrays["ensemble.samples"].astype(np.float32))
    expected = arrays["mc_dropout_soft.samples"].astype(np.float32).mean(0)
    np.testing.assert_allclose(stacked[5], expected, rtol=1e-6)


def test_paired_interval_of_a_constant_difference_is_that_constant():
    correct = np.array([True] * 30 + [False] * 10)
    reference = np.array([False] * 10 + [True] * 20 + [False] * 10)  # 10 faces more right
    mean, low, high = ensemble_mix.paired_interval(correct, reference, n_boot=200, seed=0)
    assert mean == pytest.approx(10 / 40)
    assert low <= mean <= high
    same = ensemble_mix.paired_interval(correct, correct, n_boot=50, seed=0)
    assert same == [0.0, 0.0, 0.0]


def test_the_script_writes_every_mixture_its_file_has_the_rows_for(tmp_path):
    rng = np.random.default_rng(1)
    votes = rng.multinomial(10, np.full(10, 0.1), 50).astype(np.uint8)  # (N, 10) vote counts
    arrays = {
        "meta": json.dumps({"split": "valid"}),
        "votes": votes,
        **{
            f"{row}.samples": rng.dirichlet(np.ones(8), (s, 50)).astype(np.float16)
            for row, s in [("ensemble", 5), ("classical_soft", 1), ("mc_dropout_soft", 3)]
        },
    }
    predictions, out = tmp_path / "predictions-valid.npz", tmp_path / "mix.json"
    np.savez(predictions, **arrays)
    assert (
        ensemble_mix.main(["--predictions", str(predictions), "--out", str(out), "--n-boot", "20"])
        == 0
    )
    document = json.loads(out.read_text())
    assert [m["networks"] for m in document["mixtures"].values()] == [5, 1, 6]  # no soft ensemble
    arrays["ensemble_soft.samples"] = rng.dirichlet(np.ones(8), (3, 50)).astype(np.float16)
    np.savez(predictions, **arrays)
    assert ensemble_mix.main(["--predictions", str(predictions), "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert [m["networks"] for m in document["mixtures"].values()] == [5, 1, 6, 3, 8]
    assert document["faces"] == 50
    first = next(iter(document["mixtures"].values()))
    assert first["accuracy_majority_minus_ensemble"] == [0.0, 0.0, 0.0]
