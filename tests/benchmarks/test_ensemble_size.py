"""benchmarks/ensemble_size.py: the 1/M fit recovers a known limit, the size curve's ends are the
members' mean score and the whole ensemble's (computed here by hand), and the whole script on a
small predictions file of its own."""

from __future__ import annotations

import json

import ensemble_size
import numpy as np
import pytest

from bnnfer.data.votes import barsoum_majority, plurality_label, vote_distribution
from bnnfer.evaluation.metrics import js_divergence


def test_the_fit_recovers_a_known_limit_and_slope():
    sizes = np.arange(1, 6)
    a, b = ensemble_size.fit_inverse_size(sizes, 0.88 - 0.02 / sizes)
    assert a == pytest.approx(0.88) and b == pytest.approx(0.02)


def _votes_and_members(seed: int, faces: int, members: int):
    rng = np.random.default_rng(seed)
    votes = rng.multinomial(10, rng.dirichlet(np.full(10, 0.3)), faces).astype(np.uint8)
    return votes, rng.dirichlet(np.ones(8), (members, faces)).astype(np.float32)


def test_the_curve_runs_from_the_mean_member_to_the_whole_ensemble():
    votes, members = _votes_and_members(0, 60, 4)
    curve = ensemble_size.size_curve(members, votes, n_boot=20, seed=0)
    labels, distribution = plurality_label(votes), vote_distribution(votes)
    majority, majority_labels = barsoum_majority(votes)

    def scores(p):  # (N, C) -> Barsoum accuracy, plurality accuracy, JSD
        return (
            np.mean(p[majority].argmax(1) == majority_labels[majority]),
            np.mean(p.argmax(1) == labels),
            js_divergence(p, distribution).mean(),
        )

    singles = np.array([scores(m) for m in members]).mean(0)
    whole = scores(members.mean(0))
    for i, name in enumerate(ensemble_size.SCORES):
        assert curve[name]["by_size"][0] == pytest.approx(singles[i])
        assert curve[name]["by_size"][-1] == pytest.approx(whole[i])
        limit, low, high = curve[name]["limit"]
        assert low <= high
        gain = curve[name]["gain_over_all_members"][0]
        assert gain == pytest.approx(limit - whole[i])
    assert curve["sizes"] == [1, 2, 3, 4]


def test_the_script_writes_each_ensemble_row_its_file_has(tmp_path):
    votes, members = _votes_and_members(1, 40, 5)
    arrays = {
        "meta": json.dumps({"split": "valid"}),
        "votes": votes,
        "ensemble.samples": members.astype(np.float16),
    }
    predictions, out = tmp_path / "predictions-valid.npz", tmp_path / "size.json"
    np.savez(predictions, **arrays)
    argv = ["--predictions", str(predictions), "--out", str(out), "--n-boot", "10"]
    assert ensemble_size.main(argv) == 0
    document = json.loads(out.read_text())
    assert list(document["rows"]) == ["ensemble"]  # no soft-trained ensemble in this file
    assert document["rows"]["ensemble"]["members"] == 5
