"""benchmarks/priors_shift.py: the simulated populations, the halves of Valid (no face in both),
the draws at a prior, the target's check on hand-made figures, and a short run of the whole
script; and docs/results.md quotes the committed results' tables as they stand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import priors_shift
import pytest

ROOT = Path(__file__).resolve().parents[2]


FER_PLUS = np.array([0.36, 0.27, 0.12, 0.12, 0.09, 0.01, 0.02, 0.01])


def test_shifts_are_priors_and_their_distance_from_fer_plus():
    made = priors_shift.shifts(FER_PLUS)
    for spec in made.values():
        assert spec["prior"].sum() == pytest.approx(1.0) and np.all(spec["prior"] >= 0)
    assert made["FER+ (no shift)"]["tv_from_fer_plus"] == 0
    assert made["no neutral"]["prior"][0] == 0
    assert made["no neutral"]["tv_from_fer_plus"] == pytest.approx(0.36)
    assert made["happiness-heavy"]["prior"][1] == pytest.approx(0.6)
    np.testing.assert_allclose(  # the others keep their proportions
        made["happiness-heavy"]["prior"][[0, 2]] / FER_PLUS[[0, 2]], 0.4 / 0.73
    )
    assert made["CK+"]["prior"][0] == 0 and made["RAF-DB"]["prior"][7] == 0
    for counts, _ in priors_shift.PUBLISHED.values():
        assert len(counts) == 8
    assert sum(priors_shift.PUBLISHED["AffectNet"][0]) == 287651
    assert sum(priors_shift.PUBLISHED["RAF-DB"][0]) == 15339
    assert sum(priors_shift.PUBLISHED["CK+"][0]) == 327


def test_halves_split_every_class_and_draws_follow_the_prior():
    labels = np.repeat(np.arange(4), [10, 21, 4, 1])
    first, second = priors_shift.halves(labels, seed=0)
    assert len(np.intersect1d(first, second)) == 0 and len(first) + len(second) == len(labels)
    assert np.bincount(labels[first], minlength=4).tolist() == [5, 10, 2, 0]
    rng = np.random.default_rng(0)
    faces = priors_shift.draw(second, labels, np.array([0.0, 0.5, 0.5, 0.0]), 400, rng)
    assert set(labels[faces]) == {1, 2} and set(faces) <= set(second)
    assert np.mean(labels[faces] == 1) == pytest.approx(0.5, abs=0.08)


def test_target_check_names_every_failure():
    def cell(accuracy: float, nll: float) -> dict:
        return {"accuracy": accuracy, "nll": nll}

    document = {
        "shifts": {"far": {"tv_from_fer_plus": 0.4}, "near": {"tv_from_fer_plus": 0.1}},
        "results": {
            "far": {"300": {"a": {"EM": cell(0.8, 0.5), "fer+": cell(0.7, 0.6)}},
                    "1000": {"a": {"EM": cell(0.7, 0.7), "fer+": cell(0.7, 0.6)}}},
            "near": {"300": {"a": {"EM": cell(0.1, 9.0), "fer+": cell(0.7, 0.6)}}},
        },
    }  # fmt: skip
    assert priors_shift.target_check(document) == {
        "300": [],
        "1000": ["far/a: accuracy", "far/a: NLL"],
    }


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("priors-shift") / "priors_shift.json"
    argv = ["--sizes", "300", "1000", "--repeats", "1", "--interval-repeats", "1"]
    assert priors_shift.main([*argv, "--n-boot", "5", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_a_short_run_scores_every_row_under_every_choice(short_run):
    assert short_run["sizes"] == [300, 1000] and len(short_run["rows"]) == 8
    found = short_run["results"]["uniform"]["300"]["classical_soft"]
    assert set(priors_shift.CHOICES) <= set(found) and "EM, 40 pseudo-faces" in found
    assert set(found["EM"]) == set(priors_shift.METRICS)
    assert set(found["error"]) == {"EM", "BBSE", "EM, uncalibrated", "fer+", "uniform"}
    assert "EM, plurality prior" not in short_run["results"]["uniform"]["300"]["classical"]
    assert 0 <= found["coverage"]["em"] <= 1 and found["flagged"]["em"] == 0
    assert set(short_run["target_failures"]) == {"300", "1000"}
    assert "| uniform (0.38) |" in priors_shift.markdown(short_run)


def test_results_md_quotes_the_committed_tables():
    document = json.loads((ROOT / "benchmarks/results/priors_shift.json").read_text())
    assert priors_shift.markdown(document) in (ROOT / "docs/results.md").read_text(), (
        "docs/results.md must quote `python benchmarks/priors_shift.py --markdown` as it stands"
    )
