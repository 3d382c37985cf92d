"""benchmarks/photo_floor.py: the record has every figure the docs show, the floor is the least
CPU measured over the cores, and torch's threads are as they were after it (no speed is
asserted: the benchmark measures, tests check)."""

from __future__ import annotations

import json

import photo_floor
import pytest
import torch


def test_the_floor_is_the_least_cpu_spread_over_the_cores(tiny_bundle, tmp_path):
    _, models, _ = tiny_bundle
    out = tmp_path / "photo_floor.json"
    threads = torch.get_num_threads()
    argv = ["--models", str(models), "--photos", "2", "--samples", "2", "--repeats", "1"]
    photo_floor.main([*argv, "--out", str(out)])
    record = json.loads(out.read_text())
    assert torch.get_num_threads() == threads
    assert record["photos"] == 2 and record["placement"] == "head"  # the dashboard's on a CPU
    least = min(
        2 * record["one_photo_1_thread"]["cpu_s"],
        record["photos_batched"]["cpu_s"],
        record["photos_batched_1_thread"]["cpu_s"],
    )
    assert record["floor_worst_s"] == pytest.approx(least / record["cores"], abs=1e-3)
    assert record["floor_worst_ratio"] == pytest.approx(
        record["floor_worst_s"] / record["one_photo"]["wall_s"], abs=1e-2
    )
    saving = 1 - record["photos_batched"]["cpu_s"] / record["photos_one_after_another"]["cpu_s"]
    assert record["batching_cpu_saving"] == pytest.approx(saving, abs=1e-3)
