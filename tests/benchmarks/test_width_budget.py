"""benchmarks/width_budget.py: widths scale and round to multiples of 8, the eight rows are
built on networks of the scaled shape, and the script records size and time per multiplier
(run here at small widths, one repeat)."""

from __future__ import annotations

import json

import pytest
import width_budget

from bnnfer.training.bundle import BUNDLE_NETWORK, ROWS


def test_scaled_widths_round_to_multiples_of_eight():
    assert width_budget.scaled(BUNDLE_NETWORK, 1.0).widths == (32, 64, 128, 256)
    wider = width_budget.scaled(BUNDLE_NETWORK, 1.5)
    assert wider.widths == (48, 96, 192, 384) and wider.head_width == 384
    assert width_budget.scaled(BUNDLE_NETWORK, 1.25).widths == (40, 80, 160, 320)
    assert width_budget.scaled(BUNDLE_NETWORK, 0.1).widths == (8, 8, 16, 24)  # never below 8
    with pytest.raises(ValueError, match="multiplier must be positive"):
        width_budget.scaled(BUNDLE_NETWORK, 0)


def test_the_rows_are_the_bundles_and_sample_as_asked():
    methods = width_budget.rows(width_budget.scaled(BUNDLE_NETWORK, 0.25), samples=4)
    assert set(methods) == {row.key for row in ROWS}
    assert methods["ensemble"].default_samples == 5
    assert methods["ensemble_soft"].default_samples == 3
    assert methods["mc_dropconnect"].default_samples == 4


def test_the_script_records_size_and_time_per_multiplier(tmp_path):
    out = tmp_path / "width.json"
    argv = ["--multipliers", "0.25", "0.5", "--precision", "fp32", "--samples", "2"]
    assert width_budget.main([*argv, "--repeats", "1", "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [r["widths"] for r in records] == [[8, 16, 32, 64], [16, 32, 64, 128]]
    for record in records:
        assert record["bundle_mb_fp16"] == pytest.approx(
            12 * record["parameters"] * 2 / 1e6, abs=0.05
        )
        assert record["one_face_s_fp32"] > 0
    assert records[1]["flops_per_face"] > 3 * records[0]["flops_per_face"]  # about 4x
