"""bnnfer.evaluation.external and `bnnfer evaluate --add`: a model's predictions from a CSV or NPZ
file become a row scored exactly as its probabilities would be directly, and every way a file can be
wrong gets an error naming the file, the row and what was expected."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bnnfer.cli import main
from bnnfer.constants import EMOTIONS
from bnnfer.evaluation import metrics
from bnnfer.evaluation.external import PredictionsFileError, added_rows, read_predictions_file


def _probs(n: int, seed: int = 0) -> np.ndarray:
    """A known model: peaked distributions over the 8 emotions, float64 (N, 8)."""
    logits = np.random.default_rng(seed).normal(size=(n, 8)) * 3
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _write_csv(path, names, values, header=None, prefix="") -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ["name", *(prefix + e for e in EMOTIONS)])
        for name, row in zip(names, values, strict=True):
            writer.writerow([name, *(repr(float(v)) for v in row)])


def test_an_added_row_is_scored_as_its_probabilities(tiny_bundle, tmp_path):
    root, models, splits = tiny_bundle
    valid = splits["valid"]
    probs = _probs(len(valid))
    order = np.random.default_rng(1).permutation(len(valid))  # rows in any order
    _write_csv(tmp_path / "mine.csv", valid.names[order], probs[order])
    out = tmp_path / "out"
    argv = ["evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
            "--samples", "4", "--n-boot", "20", "--add", f"mine={tmp_path / 'mine.csv'}",
            "--out", str(out)]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    document = json.loads((out / "metrics.json").read_text())
    row = document["metrics"]["mine"]
    labels, votes = valid.labels, valid.distribution
    assert row["accuracy"]["value"] == pytest.approx(metrics.accuracy(probs, labels))
    assert row["nll"]["value"] == pytest.approx(metrics.nll(probs, labels), rel=1e-5)
    jsd = metrics.js_divergence(votes, probs).mean()
    assert row["jsd"]["value"] == pytest.approx(jsd, rel=1e-5)
    assert row["jsd"]["low"] <= row["jsd"]["value"] <= row["jsd"]["high"]
    assert "mine" in document["minus_classical"]  # paired against the classical row too
    assert "classical" in document["metrics"] and document["faces"] == len(valid)
    saved = np.load(out / "predictions-valid.npz")["mine.samples"]
    np.testing.assert_allclose(saved[0], probs, atol=1e-3)  # float16 in the file


def test_logits_samples_and_partial_files(tiny_bundle, tmp_path):
    _, _, splits = tiny_bundle
    valid = splits["valid"]
    logits = np.random.default_rng(2).normal(size=(len(valid), 8))
    _write_csv(tmp_path / "logits.csv", valid.names, logits, prefix="logit_")
    row = read_predictions_file(tmp_path / "logits.csv", valid.names)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(row.samples[0], expected, rtol=1e-5)
    # an NPZ of samples keeps them all: the row gets the uncertainty split
    samples = np.stack([_probs(len(valid), seed) for seed in range(5)])
    np.savez(tmp_path / "mc.npz", names=valid.names, samples=samples)
    row = read_predictions_file(tmp_path / "mc.npz", valid.names)
    assert row.samples.shape == (5, len(valid), 8)
    assert metrics.mutual_information(row.samples.astype(np.float64)).mean() > 0.05
    # a file covering some faces only: refused, unless partial, then the shared faces
    np.savez(tmp_path / "some.npz", names=valid.names[:10], probs=samples[0, :10])
    with pytest.raises(PredictionsFileError, match=r"covers 10 of the split's .* --allow-partial"):
        read_predictions_file(tmp_path / "some.npz", valid.names)
    narrowed, rows, note = added_rows(valid, [f"some={tmp_path / 'some.npz'}"], True)
    assert len(narrowed) == 10 and rows["some"].shape == (1, 10, 8)
    assert note.startswith(f"evaluating on the 10 of {len(valid)} valid faces")
    np.testing.assert_allclose(rows["some"][0], samples[0, :10], rtol=1e-6)


def test_each_bad_file_gets_an_error_naming_it(tiny_bundle, tmp_path):
    _, _, splits = tiny_bundle
    names = splits["valid"].names
    probs = _probs(len(names))

    def error(make, match):
        path = make()
        with pytest.raises(PredictionsFileError, match=match):
            read_predictions_file(path, names)

    def csv_file(values=probs, rows=names, header=None, file="bad.csv"):
        def make():
            _write_csv(tmp_path / file, rows, values, header)
            return tmp_path / file

        return make

    nan, negative, unnormalised = probs.copy(), probs.copy(), probs.copy()
    nan[3, 2] = np.nan
    negative[4] = np.r_[-0.1, 1.1, np.zeros(6)]
    unnormalised[5] *= 0.5
    error(csv_file(nan), r"bad\.csv, row 5: NaN or inf")  # row 5: after the header, 0-based 3
    error(csv_file(negative), r"bad\.csv, row 6: negative probabilities")
    error(csv_file(unnormalised), r"bad\.csv, row 7: probabilities sum to 0\.5000, not 1")
    error(csv_file(header=["image", *EMOTIONS]), "no 'name' column")
    seven = ["name", *EMOTIONS[:7], "pain"]  # another class list
    error(csv_file(header=seven), r"missing \['contempt'\], unexpected \['pain'\]")
    duplicated = np.r_[names[:1], names[:-1]]
    error(csv_file(rows=duplicated), "appears more than once")
    extra = np.r_[names, ["not-a-face.png"]]
    error(csv_file(probs[np.r_[np.arange(len(names)), 0]], extra), "1 not in the split")
    error(csv_file(probs[1:], names[1:]), "1 missing")
    (tmp_path / "empty.csv").write_text("")
    error(lambda: tmp_path / "empty.csv", "empty file")
    (tmp_path / "p.json").write_text("{}")
    error(lambda: tmp_path / "p.json", "unknown format '.json'")
    np.savez(tmp_path / "both.npz", names=names, probs=probs, samples=probs[None])
    error(lambda: tmp_path / "both.npz", "one of 'probs'")
    np.savez(tmp_path / "classes.npz", names=names, probs=probs[:, :7])
    error(lambda: tmp_path / "classes.npz", "7 classes; expected the 8 FER")
    error(lambda: tmp_path / "nowhere.csv", "no such file")
    with pytest.raises(PredictionsFileError, match="expected LABEL=FILE"):
        added_rows(splits["valid"], ["mine.csv"], False)
    _write_csv(tmp_path / "ok.csv", names, probs)
    with pytest.raises(PredictionsFileError, match="'classical' is already in use"):
        added_rows(splits["valid"], [f"classical={tmp_path / 'ok.csv'}"], False, ["classical"])
