"""The rate sweep: finding finished sweep checkpoints, scoring them beside the bundle with the
same faces and resamples (figures checked against the metrics computed directly), the samples
kept beside each checkpoint, the verdict's wording, and the ``bnnfer sweep`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.nets import tiny_network

from bnnfer.cli import main
from bnnfer.evaluation import metrics, sweep
from bnnfer.models.checkpoints import save_checkpoint


@pytest.fixture
def sweep_runs(tmp_path):
    """Two finished sweep checkpoints (dropout at 0.5, DropConnect at 0.25) and one still
    training (its JSON written, no weights yet)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    save_checkpoint(
        runs / "mc_dropout_p050",
        [tiny_network("dropout", seed=1, block_rate=0.5)],
        ["classical", "mc_dropout"],
    )
    save_checkpoint(
        runs / "mc_dropconnect_p025",
        [tiny_network("dropconnect", seed=2, block_rate=0.25)],
        ["mc_dropconnect"],
    )
    save_checkpoint(
        runs / "unfinished", [tiny_network("dropout", seed=3, block_rate=0.3)], ["mc_dropout"]
    )
    (runs / "unfinished.safetensors").unlink()
    return runs


def test_finished_checkpoints_are_found_in_method_and_rate_order(sweep_runs):
    rows = sweep.find_sweep_rows(sweep_runs)
    assert [(r.key, r.method, r.rate) for r in rows] == [
        ("mc_dropout_p0.5", "mc_dropout", 0.5),
        ("mc_dropconnect_p0.25", "mc_dropconnect", 0.25),
    ]


def test_sweep_rows_are_scored_beside_the_bundle_on_the_same_faces(
    sweep_runs, tiny_bundle, monkeypatch
):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    rows = sweep.find_sweep_rows(sweep_runs)
    result, scored = sweep.run_sweep(rows, valid, models, None, samples=4, n_boot=20)

    assert [r["key"] for r in result["rows"]] == [
        *sweep.BUNDLED_ROWS,
        "mc_dropout_p0.5",
        "mc_dropconnect_p0.25",
    ]
    assert result["faces"] == len(valid)
    # the bundle its p = 0.1 rows came from, for the Overview to tell an earlier one's sweep
    from bnnfer.evaluation.predictions import models_digest

    assert result["models_digest"] == models_digest(models)
    by_key = {r["key"]: r for r in result["rows"]}
    assert by_key["classical"]["rate"] is None and "jsd_minus_classical" not in by_key["classical"]
    assert by_key["mc_dropout"]["rate"] == pytest.approx(0.2)  # NetworkConfig default, as trained

    # the figures are the metrics of each row's samples, computed here directly
    votes = valid.distribution
    jsd = {
        key: float(metrics.js_divergence(samples.mean(axis=0), votes).mean())
        for key, samples in scored.samples.items()
    }
    for key in ("mc_dropout_p0.5", "mc_dropconnect_p0.25"):
        assert scored.samples[key].shape == (4, len(valid), 8)
        assert by_key[key]["jsd"][0] == pytest.approx(jsd[key], rel=1e-5)
        difference = by_key[key]["jsd_minus_classical"]
        assert difference[0] == pytest.approx(jsd[key] - jsd["classical"], abs=1e-5)
        assert difference[1] <= difference[0] <= difference[2]
        accuracy = metrics.accuracy(scored.samples[key].mean(axis=0), valid.labels)
        assert by_key[key]["accuracy"][0] == pytest.approx(accuracy)

    # the samples were kept beside each checkpoint: scoring again draws nothing
    assert (sweep_runs / "mc_dropout_p050.valid-samples.npz").is_file()

    def no_drawing(*args, **kwargs):
        raise AssertionError("the sweep rows' samples should have been read, not drawn")

    bundled = {k: v for k, v in scored.samples.items() if k in sweep.BUNDLED_ROWS}
    monkeypatch.setattr(sweep, "mc_predict", no_drawing)
    monkeypatch.setattr(sweep, "bundled_samples", lambda *args, **kwargs: dict(bundled))
    again, _ = sweep.run_sweep(rows, valid, models, None, samples=4, n_boot=20)
    assert json.dumps(again) == json.dumps(result)  # NaN (no Barsoum face here) != NaN
    # other S: drawn anew (and here refused, drawing being switched off)
    with pytest.raises(AssertionError, match="read, not drawn"):
        sweep.run_sweep(rows, valid, models, None, samples=5, n_boot=20)


def test_the_verdict_reads_each_interval_against_zero():
    def row(key, method, rate, interval):
        return {"key": key, "method": method, "rate": rate, "jsd_minus_classical": interval}

    result = {
        "rows": [
            row("ensemble", "ensemble", None, [-0.004, -0.005, -0.003]),
            row("mc_dropout", "mc_dropout", 0.1, [0.0001, -0.001, 0.0012]),
            row("mc_dropout_p0.5", "mc_dropout", 0.5, [-0.002, -0.003, -0.001]),
            row("mc_dropconnect_p0.5", "mc_dropconnect", 0.5, [0.003, 0.001, 0.005]),
        ]
    }
    lines = sweep.verdict(result).splitlines()
    assert lines[0].startswith("mc_dropout: p = 0.1: no different")
    assert "p = 0.5: closer (-0.0020 [-0.0030, -0.0010])" in lines[0]
    assert lines[1].startswith("mc_dropconnect: p = 0.5: further")
    assert lines[2] == "ensemble (for scale): -0.0040 [-0.0050, -0.0030]"


def test_bnnfer_sweep_writes_the_figures_and_prints_the_table(
    sweep_runs, tiny_bundle, tmp_path, capsys
):
    root, models, _ = tiny_bundle
    out = tmp_path / "rate-sweep.json"
    argv = ["sweep", "--runs", str(sweep_runs), "--data", str(root), "--models", str(models)]
    argv += ["--samples", "3", "--n-boot", "10", "--out", str(out)]
    argv += ["--evaluation", str(tmp_path / "none")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| mc_dropout_p0.5 | 0.5 |" in printed and "ensemble (for scale)" in printed
    written = json.loads(out.read_text())
    assert written == sweep.read_sweep(out)
    assert {r["key"] for r in written["rows"]} >= {"mc_dropout_p0.5", "mc_dropconnect_p0.25"}
    assert np.isfinite(written["rows"][-1]["jsd_minus_classical"]).all()


def test_bnnfer_sweep_says_when_nothing_has_finished(tmp_path, capsys):
    assert main(["sweep", "--runs", str(tmp_path)]) == 1
    assert "no finished sweep checkpoint" in capsys.readouterr().out
