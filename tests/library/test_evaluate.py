"""bnnfer.evaluation and the `evaluate` / `predict` commands on a tiny synthetic bundle: the output
schema (metrics.json, metrics.md, predictions npz), interval ordering, an absent split, and
predict's JSON and its error for a file that is not an image."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from bnnfer.cli import main
from bnnfer.data.votes import barsoum_majority
from bnnfer.evaluation import metrics
from bnnfer.evaluation.predictions import read_predictions
from bnnfer.evaluation.registry import METRICS, PAIRED_METRICS, per_face, summarise
from bnnfer.evaluation.reporting import CALIBRATION_INTERVAL_NOTE, format_interval, write_evaluation
from bnnfer.evaluation.runner import evaluate_methods
from bnnfer.training.bundle import ROWS, load_bundle


def test_format_interval_writes_value_and_interval_or_missing():
    assert format_interval(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert format_interval(-0.01, -0.02, 0.0, 4, signed=True) == "-0.0100 [-0.0200, +0.0000]"
    assert format_interval(float("nan"), 0.1, 0.2) == "n/a"
    assert format_interval(float("inf"), 0.1, 0.2, missing="") == ""


def test_evaluation_schema_and_intervals(tiny_bundle, tmp_path):
    _, models, splits = tiny_bundle
    methods = load_bundle(models)
    labels = {row.key: row.label for row in ROWS}
    evaluation = evaluate_methods(methods, splits["valid"], samples=6, n_boot=30, labels=labels)
    paths = write_evaluation(evaluation, tmp_path, models)
    document = json.loads(paths["json"].read_text())
    assert document["split"] == "valid" and document["samples"] == 6
    # both accuracy protocols, each with the faces it is taken on
    keep, _ = barsoum_majority(splits["valid"].votes)
    assert document["faces"] == len(splits["valid"]) and document["faces_majority"] == keep.sum()
    majority = document["metrics"]["classical"]["accuracy_majority"]["value"]
    probs = evaluation.samples["classical"][0]
    expected = float((probs[keep].argmax(1) == splits["valid"].labels[keep]).mean())
    assert majority == pytest.approx(expected)
    text = paths["markdown"].read_text()
    assert "Accuracy (Barsoum majority)" in text and f"the {keep.sum()} faces where" in text
    assert document["models_digest"]
    assert list(document["metrics"]) == [row.key for row in ROWS]
    for key, row in document["metrics"].items():
        assert set(row) == set(METRICS), key
        for name, cell in row.items():
            if np.isfinite(cell["low"]):
                assert cell["low"] <= cell["high"], (key, name)
        # a percentile interval of a mean holds the mean (binned ECEs are biased upwards on
        # resamples, so theirs need not)
        for name in ("accuracy", "jsd", "soft_brier"):
            cell = row[name]
            assert cell["low"] - 1e-9 <= cell["value"] <= cell["high"] + 1e-9, (key, name)
    assert 0 <= document["metrics"]["mc_dropout"]["jsd"]["value"] <= np.log(2)
    markdown = paths["markdown"].read_text()
    assert "| MC-Dropout |" in markdown and "JSD to votes" in markdown
    # the binned calibration errors' upward bias is said where their intervals are shown
    assert markdown.splitlines()[0].endswith(CALIBRATION_INTERVAL_NOTE)
    # every other row against the classical one, paired
    paired = document["minus_classical"]
    assert list(paired) == [row.key for row in ROWS if row.key != "classical"]
    for key, row in paired.items():
        assert set(row) == set(PAIRED_METRICS), key
        value = document["metrics"][key]["jsd"]["value"]
        reference = document["metrics"]["classical"]["jsd"]["value"]
        assert row["jsd"]["value"] == pytest.approx(value - reference)
    assert "JSD to votes minus classical" in markdown

    meta, arrays = read_predictions(paths["predictions"])
    n = len(splits["valid"])
    assert meta["split"] == "valid" and meta["methods"] == [row.key for row in ROWS]
    assert arrays["names"].shape == (n,) and arrays["votes"].shape == (n, 10)
    assert arrays["mc_dropout.samples"].shape == (6, n, 8)
    assert arrays["ensemble.samples"].shape == (5, n, 8)
    assert arrays["classical.samples"].shape == (1, n, 8)
    np.testing.assert_allclose(arrays["mc_dropout.mean"].sum(1), 1, atol=1e-3)
    for score in ("predictive_entropy", "expected_entropy", "mutual_information"):
        assert arrays[f"mc_dropout.{score}"].shape == (n,)
    assert np.all(arrays["classical.mutual_information"] < 1e-6)


def test_per_face_bootstrap_equals_the_bootstrap_of_the_samples():
    # Reducing (S, N, C) samples to per-face rows before resampling must not change any
    # interval: the same seed draws the same face indices, and each per-face quantity depends
    # on that face's samples only. Reference: bootstrap_ci straight on the samples.
    rng = np.random.default_rng(3)
    samples = rng.dirichlet(np.full(8, 0.4), size=(7, 120)).astype(np.float32)  # (S, N, C)
    votes = rng.dirichlet(np.ones(8), size=120)
    labels = votes.argmax(axis=1)
    faces = per_face(samples, labels, votes)
    mean = samples.astype(np.float64).mean(axis=0)
    references = {
        "auroc_mi": lambda s, y, v: metrics.misclassification_auroc(
            metrics.mutual_information(s), s.mean(axis=0), y
        ),
        "expected_entropy": lambda s, y, v: float(metrics.expected_entropy(s).mean()),
        "human_ece": lambda s, y, v: metrics.human_ece(s.mean(axis=0), v),
        "ece": lambda s, y, v: metrics.ece(s.mean(axis=0), y),
    }
    array = samples.astype(np.float64)
    array /= array.sum(axis=2, keepdims=True)
    for name, reference in references.items():
        expected = metrics.bootstrap_ci(reference, [array, labels, votes], n_boot=50, seed=4)
        got = summarise(METRICS[name], faces, n_boot=50, seed=4)
        np.testing.assert_allclose(got, expected, rtol=1e-9, err_msg=name)
    assert faces.probs.shape == (120, 8) and faces.epistemic.shape == (120,)
    np.testing.assert_allclose(faces.probs, mean / mean.sum(axis=1, keepdims=True))


def test_evaluate_command_prints_the_table_and_paths(tiny_bundle, tmp_path, capsys):
    root, models, _ = tiny_bundle
    argv = [
        "evaluate",
        "--models",
        str(models),
        "--data",
        str(root),
        "--split",
        "valid",
        "--samples",
        "4",
        "--n-boot",
        "10",
        "--out",
        str(tmp_path / "eval"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| Classical + temperature |" in out and "predictions-valid.npz" in out
    assert (tmp_path / "eval" / "predictions-valid.npz").is_file()


def test_evaluate_placement_option_is_recorded_and_matched_by_the_store(tiny_bundle, tmp_path):
    """--placement head samples the MC rows' heads only and says so in the files; the store
    serves that file to head-placed methods and not to methods sampled as trained."""
    import json

    from bnnfer.inference.computations import make_request
    from bnnfer.inference.store import find_predictions
    from bnnfer.training.bundle import load_bundle

    root, models, splits = tiny_bundle
    out = tmp_path / "eval"
    argv = [
        "evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
        "--samples", "4", "--n-boot", "10", "--placement", "head", "--out", str(out),
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    document = json.loads((out / "metrics.json").read_text())
    mc_rows = [key for key in document["methods"] if key.startswith("mc_")]
    assert len(mc_rows) >= 2 and document["placements"] == dict.fromkeys(mc_rows, "head")
    file = out / "predictions-valid.npz"
    keys = ["classical", "mc_dropout", "mc_dropconnect"]
    valid = splits["valid"]
    head = load_bundle(models, placement="head")
    served = find_predictions(make_request(head, models, valid, keys, 4), valid, file, tmp_path)
    assert served is not None and served.source == "evaluate file"
    trained = load_bundle(models)
    assert (
        find_predictions(make_request(trained, models, valid, keys, 4), valid, file, tmp_path)
        is None
    )
    # a key without MC sampling is served whatever the placement
    assert (
        find_predictions(
            make_request(trained, models, valid, ["classical"], 4), valid, file, tmp_path
        )
        is not None
    )


def test_evaluate_refuses_an_absent_split(tiny_bundle, tmp_path, capsys):
    root, models, _ = tiny_bundle
    argv = ["evaluate", "--models", str(models), "--data", str(root), "--split", "test"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "FER2013Test" in err and "split 'test' is not here" in err


def test_predict_command_json_and_bad_file(tiny_bundle, tmp_path, capsys):
    _, models, _ = tiny_bundle
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    argv = ["predict", str(photo), "--models", str(models), "--json", "--samples", "5"]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    (face,) = document["photos"][0]["faces"]
    assert len(face["box"]) == 4 and face["reading"]
    assert set(face["methods"]) == {row.key for row in ROWS}
    assert face["methods"]["mc_dropout"]["samples"] == 5
    assert sum(face["methods"]["ensemble"]["mean"].values()) == pytest.approx(1, abs=1e-3)

    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert main(["predict", str(text), str(photo), "--models", str(models)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().count("\n") == 0  # one line
    assert "notes.txt: this file is not an image" in captured.err
    assert "1 face(s) found" in captured.out


def test_predict_readable_summary(tiny_bundle, tmp_path, capsys):
    _, models, _ = tiny_bundle
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (90, 90, 90)).save(buffer, "PNG")
    blank = tmp_path / "blank.png"
    blank.write_bytes(buffer.getvalue())
    assert main(["predict", str(blank), "--models", str(models), "--rows", "classical"]) == 0
    assert "0 face(s) found" in capsys.readouterr().out
