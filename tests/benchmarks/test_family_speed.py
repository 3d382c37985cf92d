"""benchmarks/family_speed.py end to end at one step: both families are trained as real
single-threaded processes, and each schedule's hours follow from the measured rate."""

from __future__ import annotations

import json

import family_speed
import pytest


def test_both_families_are_measured_and_costed(tmp_path):
    out = tmp_path / "family_speed.json"
    argv = ["--steps", "1", "--precisions", "fp32", "--epochs", "10", "60", "--out", str(out)]
    assert family_speed.main(argv) == 0
    document = json.loads(out.read_text())
    rows = {row["family"]: row for row in document["rows"]}
    assert set(rows) == {"vgg", "separable"}
    assert rows["vgg"]["parameters"] == 1_240_488  # the bundle's network
    assert rows["separable"]["parameters"] == 172_520
    for row in rows.values():
        assert row["precision"] == "fp32" and row["images_per_s"] > 0
        hours = 60 * document["train_faces"] / row["images_per_s"] / 3600
        assert row["hours_per_network"]["60"] == pytest.approx(hours, abs=0.01)
        assert set(row["hours_per_network"]) == {"10", "60"}
    assert document["threads"] == 1 and document["batch_size"] == 128
