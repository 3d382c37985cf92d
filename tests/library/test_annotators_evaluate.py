"""A crowd with its annotators' names through ``bnnfer evaluate``: annotators.csv with each
annotator and each row, and ``--reference dawid-skene`` reading the metrics against people
against the Dawid–Skene posterior, said in the report and refused where it cannot apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.crowds import FACES, PEOPLE, needs_crowd_kit, write_annotated_folder

from bnnfer.cli import main
from bnnfer.data.ferplus import load_ferplus
from bnnfer.evaluation import annotators, metrics
from bnnfer.evaluation.annotators import COLUMNS, DS_COLUMNS
from bnnfer.evaluation.predictions import models_digest
from bnnfer.evaluation.runner import score_samples
from bnnfer.evaluation.views import comparison_from_evaluation
from bnnfer.inference.store import evaluation_predictions
from bnnfer.training.bundle import read_registry


@pytest.fixture(scope="module")
def annotated(tmp_path_factory) -> Path:
    return write_annotated_folder(tmp_path_factory.mktemp("annotated"))


def _evaluate(root: Path, models: Path, out: Path, *extra: str) -> int:
    argv = ["evaluate", "--models", str(models), "--data", str(root), "--samples", "3",
            "--n-boot", "20", "--out", str(out), *extra]  # fmt: skip  # options beside values
    return main(argv)


def test_evaluate_writes_annotators_csv_with_the_rows_among_them(
    annotated, tiny_bundle, tmp_path, capsys
):
    _, models, _ = tiny_bundle
    assert _evaluate(annotated, models, tmp_path / "out", "--split", "all") == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "annotators.csv")
    expected = [*COLUMNS, *(DS_COLUMNS if annotators.crowd_kit_available() else ())]
    assert list(table.columns) == expected
    labels = {row.label for row in read_registry(models)}
    assert set(table["annotator"]) == set(PEOPLE) | labels
    assert (table["kind"] == "model").sum() == len(labels)
    assert set(table.loc[table["kind"] == "model", "votes"]) == {FACES}
    assert table["agreement"].is_monotonic_decreasing  # ranked
    assert "The annotators (7) and the models among them" in out
    assert f"wrote {tmp_path / 'out' / 'annotators.csv'}" in out
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "reference" not in document  # the votes, as always


@needs_crowd_kit
def test_the_dawid_skene_reference_is_said_and_recorded(annotated, tiny_bundle, tmp_path, capsys):
    _, models, _ = tiny_bundle
    argv = ("--reference", "dawid-skene", "--rows", "classical")
    assert _evaluate(annotated, models, tmp_path / "ds", *argv) == 0
    out = capsys.readouterr().out
    assert annotators.DAWID_SKENE_NOTE in out
    document = json.loads((tmp_path / "ds" / "metrics.json").read_text())
    assert document["reference"] == "dawid-skene"
    assert "ds_accuracy" in pd.read_csv(tmp_path / "ds" / "annotators.csv").columns
    # the dashboard serves this evaluation's table to predictions read against the posterior only
    digest = models_digest(models)
    preds = evaluation_predictions(tmp_path / "ds" / "predictions-all.npz", digest, 3)
    assert comparison_from_evaluation(document, preds, ["classical"], {}, digest) is None
    split = load_ferplus(annotated, cache_dir=False)["all"]
    posterior = annotators.read_crowd(split, "dawid-skene").distribution
    fitted = preds.with_reference("dawid-skene", posterior)
    table = comparison_from_evaluation(document, fitted, ["classical"], {}, digest)
    assert table["jsd"][0] == document["metrics"]["classical"]["jsd"]["value"]
    np.testing.assert_array_equal(fitted.human["distribution"], posterior)
    narrowed = fitted.with_rows({}, np.array([3, 1]))
    np.testing.assert_array_equal(narrowed.human["distribution"], posterior[[3, 1]])
    assert narrowed.reference == "dawid-skene"


@needs_crowd_kit
def test_score_samples_measures_against_the_posterior(annotated):
    split = load_ferplus(annotated, cache_dir=False)["all"]
    rng = np.random.default_rng(1)
    samples = rng.dirichlet(np.ones(8), (4, len(split))).astype(np.float32)  # (S, N, C)
    voted = score_samples({"classical": samples}, split, n_boot=10)
    fitted = score_samples({"classical": samples}, split, n_boot=10, reference="dawid-skene")
    probs = samples.astype(np.float64).mean(axis=0)
    probs /= probs.sum(axis=1, keepdims=True)
    posterior = annotators.read_crowd(split, "dawid-skene").distribution
    for evaluation, reference in ((voted, split.distribution), (fitted, posterior)):
        jsd = evaluation.table["classical"]["jsd"][0]
        assert jsd == pytest.approx(metrics.js_divergence(reference, probs).mean())
    # the plurality label's metrics stay as they were
    assert fitted.table["classical"]["accuracy"] == voted.table["classical"]["accuracy"]
    assert fitted.settings["reference"] == "dawid-skene" and "reference" not in voted.settings


def test_the_dawid_skene_reference_without_names_is_an_error(tiny_bundle, tmp_path, capsys):
    root, models, _ = tiny_bundle  # FER+'s layout: counts, no names
    argv = ("--split", "valid", "--reference", "dawid-skene", "--rows", "classical")
    assert _evaluate(root, models, tmp_path / "out", *argv) == 2
    error = capsys.readouterr().err
    assert "needs the annotators' names" in error and "annotations.csv" in error
    assert not (tmp_path / "out").exists()
