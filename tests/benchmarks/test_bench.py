"""benchmarks/bench.py: FLOP counts by hand, placements switch the right layers off, and the
benchmark records have the documented fields (no speed is asserted: the benchmark measures, tests
check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bench
import mc_inference
import pytest
import torch
from helpers.nets import tiny_network

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_layer_flops_by_hand():
    net = tiny_network()
    # conv 1->4 at 48x48 (3x3), conv 4->8 at 24x24, linear 8->8, linear 8->8; 2 FLOPs per MAC
    expected = 2 * (48 * 48 * 4 * 9 + 24 * 24 * 8 * 4 * 9 + 8 * 8 + 8 * 8)
    assert bench.layer_flops(net) == expected
    trunk = net.trunk_length
    assert bench.layer_flops(net, 0, trunk) + bench.layer_flops(net, trunk) == expected
    # dropout after stage 0: conv 1->4 is the shared trunk
    trunk_flops = 2 * 48 * 48 * 4 * 9
    rest_flops = expected - trunk_flops
    bound = 10 * expected / (trunk_flops + 10 * rest_flops)
    assert bench.flop_bound(net, 10) == pytest.approx(bound) and bench.flop_bound(net, 1) == 1.0


def test_mc_inference_script_writes_the_documented_records(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [
        "--models",
        str(tmp_path / "none"),
        "--data",
        str(tmp_path / "none"),
        "--samples",
        "1",
        "3",
        "--batch",
        "4",
        "--seconds",
        "0.05",
        "--precision",
        "fp32",
        "bf16",
        # a small peak product and batch: bf16 is emulated (slow) on CPUs without AMX
        "--peak-size",
        "128",
        "--out",
        str(out),
    ]
    assert mc_inference.main(argv) == 0
    document = json.loads(out.read_text())
    assert set(document["matmul_peak_gflops"]) == {"fp32", "bf16"}
    assert all(peak > 0 for peak in document["matmul_peak_gflops"].values())
    records = document["engine_vs_naive"]
    assert [(r["precision"], r["method"], r["samples"]) for r in records] == [
        (precision, method, s)
        for precision in ("fp32", "bf16")
        for method in ("mc_dropout", "mc_dropconnect")
        for s in (1, 3)
    ]
    for record in records:
        assert {
            "method",
            "samples",
            "engine_per_s",
            "naive_per_s",
            "speedup",
            "engine_unfolded_per_s",
            "speedup_unfolded",
            "flop_bound",
            "engine_gflops",
            "engine_share_of_peak",
            "engine_peak_mib",
        } <= set(record)
        assert record["speedup"] == pytest.approx(record["engine_per_s"] / record["naive_per_s"])
        if record["method"] == "mc_dropconnect":  # the CPU default is looped
            assert record["other_layout"] == "grouped" and record["other_layout_per_s"] > 0
        peak = document["matmul_peak_gflops"][record["precision"]]
        assert record["engine_share_of_peak"] == pytest.approx(record["engine_gflops"] / peak)
        # the FLOP bound, run at the matmul peak, over the naive loop's measured rate
        ceiling = record["flop_bound"] * peak / record["naive_gflops"]
        assert record["speedup_at_peak"] == pytest.approx(ceiling)
    assert "| mc_dropconnect | 3 | bf16 |" in capsys.readouterr().out


def test_compile_vs_eager_records(monkeypatch):
    # the compiler is replaced by the identity so the test checks the records, not inductor
    # (tests/library/test_inference.py compiles for real)
    from bnnfer.models.methods import MCDropConnect, MCDropout

    monkeypatch.setattr(torch, "compile", lambda fn: fn)
    methods = {
        "mc_dropout": MCDropout(tiny_network("dropout")),
        "mc_dropconnect": MCDropConnect(tiny_network("dropconnect")),
    }
    images = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8).numpy()
    records = bench.compile_vs_eager(methods, images, samples=2)
    assert [r["method"] for r in records] == ["mc_dropout", "mc_dropconnect"]
    for record in records:
        assert record["images"] == 3 and record["samples"] == 2 and not record["fell_back"]
        assert record["compiled_speedup"] == pytest.approx(record["eager_s"] / record["compiled_s"])


def test_end_to_end_times_one_face_and_the_split_through_the_cache(tiny_bundle):
    """The whole-split figure goes through the dashboard's path: computed, then from the cache."""
    from bnnfer.training.bundle import load_bundle

    _, models, splits = tiny_bundle
    valid = splits["valid"]
    result = bench.end_to_end(
        load_bundle(models), valid.images[0], valid, models, samples=3, precision="fp32", repeats=2
    )
    assert result["precision"] == "fp32" and result["split_images"] == len(valid)
    assert result["rows"] == list(load_bundle(models))  # which rows the figures are for
    assert result["one_face_all_methods_s"] > 0 and result["split_all_methods_s"] > 0
    assert result["split_cache_source"] == "cache" and result["split_from_cache_s"] > 0
    without_split = bench.end_to_end(load_bundle(models), valid.images[0], repeats=1)
    assert set(without_split) == {"precision", "rows", "one_face_all_methods_s"}


def test_engine_settings_times_every_setting_and_marks_the_cpu_defaults():
    networks = {
        "mc_dropout": tiny_network("dropout"),
        "mc_dropconnect": tiny_network("dropconnect"),
    }
    records = bench.engine_settings(
        networks, batches=(1, 3), rows=(4, 64), samples=2, min_seconds=0.01
    )
    settings = [(r["method"], r["batch"], r["layout"], r["max_rows"]) for r in records]
    assert settings == [
        ("mc_dropout", 1, "batched", 4), ("mc_dropout", 1, "batched", 64),
        ("mc_dropout", 3, "batched", 4), ("mc_dropout", 3, "batched", 64),
        ("mc_dropconnect", 1, "grouped", 4), ("mc_dropconnect", 1, "grouped", 64),
        ("mc_dropconnect", 1, "looped", None),
        ("mc_dropconnect", 3, "grouped", 4), ("mc_dropconnect", 3, "grouped", 64),
        ("mc_dropconnect", 3, "looped", None),
    ]  # fmt: skip  # table layout
    # the CPU defaults: passes of 64 rows for dropout, the looped layout for DropConnect
    defaults = {(r["method"], r["layout"], r["max_rows"]) for r in records if r["default"]}
    assert defaults == {("mc_dropout", "batched", 64), ("mc_dropconnect", "looped", None)}
    for method in networks:
        for batch in (1, 3):
            group = [r for r in records if (r["method"], r["batch"]) == (method, batch)]
            assert max(r["share_of_fastest"] for r in group) == 1.0
            assert all(0 < r["share_of_fastest"] <= 1 and r["per_s"] > 0 for r in group)
    with pytest.raises(ValueError, match="precision must be fp32 or bf16, got 'fp16'"):
        bench.engine_settings(networks, precision="fp16")


def test_bench_networks_without_a_bundle_are_untrained_defaults(tmp_path):
    networks, trained = bench.bench_networks(tmp_path, torch.device("cpu"))
    assert not trained
    assert {k: n.config.stochastic for k, n in networks.items()} == {
        "mc_dropout": "dropout",
        "mc_dropconnect": "dropconnect",
    }


def test_matmul_peak_refuses_tf32_off_cuda():
    with pytest.raises(ValueError, match="tf32 is a CUDA setting"):
        bench.matmul_peak(torch.device("cpu"), tf32=True)


def test_engine_settings_script_writes_its_table_and_refuses_bad_sizes(tmp_path):
    script = BENCHMARKS / "engine_settings.py"
    out = tmp_path / "settings.json"
    argv = [sys.executable, str(script), "--models", str(tmp_path / "none"), "--device", "cpu"]
    tiny = ["--batches", "1", "--rows", "4", "--samples", "2", "--seconds", "0.01"]
    done = subprocess.run(
        [*argv, *tiny, "--precision", "fp32", "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())["records"]
    assert [r["setting"] for r in records] == ["batched 4", "grouped 4", "looped *"]
    assert "| mc_dropconnect | fp32 | 1 | looped * |" in done.stdout
    refused = subprocess.run([*argv, "--rows", "0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--rows" in refused.stderr and not refused.stdout
