"""benchmarks/train_workers.py end to end at one step: both layouts are run as real training
processes with their thread counts, and the ratio written is the one between their rates."""

from __future__ import annotations

import json

import pytest
import train_workers


def test_both_layouts_are_measured_and_compared(tmp_path):
    out = tmp_path / "train_workers.json"
    argv = ["--steps", "1", "--cores", "2", "--precision", "fp32", "--out", str(out)]
    assert train_workers.main(argv) == 0
    document = json.loads(out.read_text())
    one, per_core = document["layouts"]["one process"], document["layouts"]["one per core"]
    assert (one["processes"], one["threads_each"]) == (1, 2)
    assert (per_core["processes"], per_core["threads_each"]) == (2, 1)
    assert len(per_core["images_per_s_each"]) == 2
    assert per_core["images_per_s"] == pytest.approx(sum(per_core["images_per_s_each"]), abs=0.1)
    ratio = per_core["images_per_s"] / one["images_per_s"]
    assert document["per_core_over_one"] == pytest.approx(ratio, abs=1e-3)
    assert document["precision"] == "fp32" and document["batch_size"] == 128
    # each network's epochs, in train-all's order: one budget for all nine
    assert document["bundle"] == {"epochs": [60] * 9, "train_faces": 28385}
    assert document["machine"]["threads"] >= 1
