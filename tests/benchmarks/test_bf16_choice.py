"""benchmarks/bf16_choice.py: each workload's bf16 speed-up is fp32's time over bf16's (for
training, bf16's rate over fp32's), the faster precision is named by which side of 1 it falls,
and the document records what ``precision="auto"`` picks on the machine, with the probe's own
speed-up only where `bf16_pays` times it. The workloads are stubbed with known seconds (the
real ones take minutes); the choice is steered through the CPU probes."""

from __future__ import annotations

import json

import bf16_choice
import pytest
import torch

from bnnfer.inference import mc

SECONDS = {"fp32": 2.0, "bf16": 1.0}  # bf16 twice as fast at inference
RATES = {"fp32": 100.0, "bf16": 80.0}  # and slower at training


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr(bf16_choice, "split_seconds", lambda methods, faces, p: SECONDS[p])
    monkeypatch.setattr(
        bf16_choice.bench,
        "end_to_end",
        lambda m, f, precision: {"one_face_all_methods_s": SECONDS[precision] / 4},
    )
    monkeypatch.setattr(bf16_choice, "training_images_per_s", lambda steps, p: RATES[p])
    monkeypatch.setattr("bnnfer.training.bundle.load_bundle", lambda **kwargs: {})
    monkeypatch.setattr(mc, "cpu_bf16_speedup", lambda: 0.7)


@pytest.mark.parametrize(
    ("amx", "avx512", "auto", "probe"),
    [
        (False, True, "fp32", 0.7),  # timed, slower: fp32
        (True, True, "bf16", None),  # AMX: bf16 untimed
        (False, False, "fp32", None),  # no bf16 hardware
    ],
)
def test_speedups_and_the_choice_are_recorded(
    tmp_path, monkeypatch, stubbed, amx, avx512, auto, probe
):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512, raising=False)
    out = tmp_path / "bf16_choice.json"
    assert bf16_choice.main(["--steps", "1", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["bf16_speedup"] == {
        "one_face_all_rows": 2.0,
        "faces_256_heads": 2.0,
        "training": 0.8,
    }
    assert document["faster"] == {
        "one_face_all_rows": "bf16",
        "faces_256_heads": "bf16",
        "training": "fp32",
    }
    assert document["auto_picks"] == auto and document["probe_speedup"] == probe
    assert document["amx"] is amx and document["bf16_in_hardware"] is (amx or avx512)
    assert document["min_speedup"] == mc.BF16_MIN_SPEEDUP
