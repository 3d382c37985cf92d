"""bnnfer.evaluation.adapt and ``--prior``: the training priors recorded beside the bundle (checked,
and on the real data the FER+ Train figures), the estimators' fits on the shipped Valid evaluation,
the comparison ``bnnfer evaluate --prior`` reports beside fer+, and photos and videos read under a
prior, every face of the photos (or the clip) together."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from helpers import clips
from PIL import Image
from skimage import data as skimage_data

from bnnfer import load_ferplus
from bnnfer.cli import main
from bnnfer.data.votes import plurality_label, vote_distribution
from bnnfer.evaluation import metrics
from bnnfer.evaluation.adapt import (
    CHOICE_METRICS,
    choice_table,
    describe_estimates,
    read_row_priors,
    read_rows,
    shipped_source_fits,
    source_fits,
)
from bnnfer.evaluation.predictions import read_predictions
from bnnfer.evaluation.priors import parse_prior, training_priors_document
from bnnfer.evaluation.runner import Evaluation
from bnnfer.models.checkpoints import CheckpointError, write_manifest
from bnnfer.training import bundle

SHIPPED = bundle.DEFAULT_EVALUATION_DIR / "predictions-valid.npz"


@pytest.fixture(scope="module")
def shipped():
    return read_predictions(SHIPPED)


def test_the_bundle_records_every_rows_training_prior():
    rows = read_row_priors()
    registry = bundle.read_registry()
    assert list(rows) == [row.key for row in registry]
    for row in registry:
        assert rows[row.key].target == row.target
    document = json.loads((bundle.DEFAULT_BUNDLE_DIR / bundle.PRIORS_NAME).read_text())
    soft, plurality = rows["classical_soft"].training, rows["classical"].training
    assert soft[7] > 2 * plurality[7]  # contempt: 1.8% of the votes, 0.6% of the pluralities
    assert document["faces"] > 28000 and document["source"] == "FER+ train"


@pytest.mark.ferplus
def test_the_recorded_priors_are_ferplus_trains(real_ferplus):
    train = load_ferplus(real_ferplus, splits=["train"])["train"]
    targets = {row.key: row.target for row in bundle.read_registry()}
    expected = training_priors_document(train.votes, targets, "FER+ train")
    recorded = json.loads((bundle.DEFAULT_BUNDLE_DIR / bundle.PRIORS_NAME).read_text())
    assert recorded["faces"] == expected["faces"]
    np.testing.assert_allclose(recorded["vote_profiles"], expected["vote_profiles"], atol=1e-12)
    for key, row in expected["rows"].items():
        np.testing.assert_allclose(recorded["rows"][key]["training_prior"], row["training_prior"])


def test_a_changed_or_missing_priors_file_is_refused(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(bundle.DEFAULT_BUNDLE_DIR / "models.json", folder)
    with pytest.raises(CheckpointError, match="no training priors; write them"):
        read_row_priors(folder)
    document = json.loads((bundle.DEFAULT_BUNDLE_DIR / bundle.PRIORS_NAME).read_text())
    document["rows"]["classical"]["training_prior"] = [1 / 8] * 8
    (folder / bundle.PRIORS_NAME).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="classical's training prior does not match"):
        read_row_priors(folder)
    shutil.copy(bundle.DEFAULT_BUNDLE_DIR / bundle.PRIORS_NAME, folder)
    write_manifest(folder)  # now listed: a changed byte is caught by its sha256
    assert len(read_row_priors(folder)) == 8
    text = (folder / bundle.PRIORS_NAME).read_text()
    (folder / bundle.PRIORS_NAME).write_text(text.replace('"FER+ train"', '"FER+ trian"'))
    with pytest.raises(CheckpointError, match="does not match the manifest"):
        read_row_priors(folder)
    (folder / bundle.PRIORS_NAME).write_text('{"rows": 3}')
    write_manifest(folder)
    with pytest.raises(CheckpointError, match="malformed training priors"):
        read_row_priors(folder)


def test_the_estimators_fit_on_the_bundles_own_evaluation(shipped, tiny_bundle):
    meta, arrays = shipped
    fits = shipped_source_fits()
    assert list(fits) == meta["methods"]
    labels = plurality_label(arrays["votes"].astype(np.int64))
    for fit in fits.values():
        np.testing.assert_allclose(fit.prior, np.bincount(labels, minlength=8) / len(labels))
        assert 0.5 < fit.calibration.temperature < 2 and fit.condition < 200
    _, models, _ = tiny_bundle
    with pytest.raises(CheckpointError, match="made by other models"):
        shipped_source_fits(models)


def _evaluation(arrays: dict, faces: np.ndarray) -> Evaluation:
    samples = {
        k[: -len(".samples")]: v[:, faces].astype(np.float32)
        for k, v in arrays.items()
        if k.endswith(".samples")
    }
    return Evaluation(
        "valid", arrays["names"][faces], arrays["votes"][faces], samples, {}, {}, {}, {}
    )


def test_choice_table_reads_every_row_as_trained_and_under_the_choice(shipped):
    _, arrays = shipped
    rng = np.random.default_rng(0)
    evaluation = _evaluation(arrays, rng.choice(len(arrays["names"]), 400, replace=False))
    rows = read_row_priors()
    labels = plurality_label(evaluation.votes)
    votes = vote_distribution(evaluation.votes)
    table, estimates = choice_table(evaluation, parse_prior("uniform"), rows)
    assert estimates == {}
    for key, samples in evaluation.samples.items():
        mean = samples.astype(np.float64).mean(0)
        mean /= mean.sum(1, keepdims=True)
        assert set(table[key]) == {"fer+", "uniform"} and set(table[key]["fer+"]) == set(
            CHOICE_METRICS
        )
        assert table[key]["fer+"]["nll"] == pytest.approx(metrics.nll(mean, labels))
        assert table[key]["fer+"]["jsd"] == pytest.approx(metrics.js_divergence(votes, mean).mean())
        assert table[key]["uniform"]["accuracy"] != table[key]["fer+"]["accuracy"]
    sources = source_fits(evaluation.samples, evaluation.votes)
    table, estimates = choice_table(evaluation, parse_prior("adapted"), rows, sources)
    assert set(estimates) == set(evaluation.samples)
    assert all(e.faces == 400 and e.reliable for e in estimates.values())
    # Valid read with its own prior: nearly as trained
    assert table["ensemble"]["adapted"]["accuracy"] == pytest.approx(
        table["ensemble"]["fer+"]["accuracy"], abs=0.02
    )


def test_a_row_without_a_fit_is_read_as_trained_and_says_why(shipped):
    _, arrays = shipped
    samples = {"classical": arrays["classical.samples"][:, :50], "mine": np.full((1, 50, 8), 0.125)}
    read, estimates = read_rows(samples, parse_prior("adapted"), read_row_priors(), sources={})
    np.testing.assert_array_equal(read["classical"], samples["classical"])
    np.testing.assert_array_equal(read["mine"], samples["mine"])  # no training prior known
    assert list(estimates) == ["classical"] and not estimates["classical"].reliable
    assert estimates["classical"].to_dict()["prior"]["neutral"] is None
    assert "classical: no estimate: classical has no fit" in describe_estimates(estimates)


@pytest.mark.parametrize("prior", ["uniform", "adapted"])
def test_evaluate_reports_a_prior_beside_fer_plus(tiny_bundle, tmp_path, capsys, prior):
    """On Valid, an adapted prior is estimated with fits on the rows as they were just sampled
    there (the tiny bundle did not make the shipped evaluation, which another split needs)."""
    root, models, splits = tiny_bundle
    argv = [
        "evaluate", "--data", str(root), "--split", "valid", "--models", str(models),
        "--out", str(tmp_path), "--samples", "3", "--n-boot", "10", "--prior", prior,
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"Read as trained (fer+) and under the prior {prior}:" in out
    assert "| Classical | fer+ |" in out and f"| Classical | {prior} |" in out
    written = json.loads((tmp_path / "prior-comparison.json").read_text())
    faces = len(splits["valid"])
    assert written["choice"] == prior and written["faces"] == faces
    assert set(written["metrics"]["ensemble_soft"]) == {"fer+", prior}
    if prior == "adapted":
        assert f"prior estimated by EM from {faces} faces" in out and f"only {faces} faces" in out
        assert written["estimates"]["classical"]["reliable"] is False
    else:
        assert written["estimates"] == {}


def test_adapting_another_split_needs_the_bundles_own_evaluation(tiny_bundle, tmp_path, capsys):
    root, models, _ = tiny_bundle
    argv = [
        "evaluate", "--data", str(root), "--split", "train", "--models", str(models),
        "--out", str(tmp_path), "--samples", "2", "--n-boot", "5", "--prior", "adapted",
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 2
    assert "was made by other models" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("prior", "says"),
    [("happy", "unknown prior 'happy'"), ("0.5,0.5", "must hold 8 frequencies")],
)
def test_a_bad_prior_stops_the_command_with_its_reason(capsys, prior, says):
    with pytest.raises(SystemExit) as stopped:
        main(["predict", "photo.jpg", "--prior", prior])
    assert stopped.value.code == 2 and says in capsys.readouterr().err


def _photo(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def test_predict_adapts_over_every_face_of_every_photo(tmp_path, capsys):
    astronaut = Image.fromarray(skimage_data.astronaut())
    paths = []
    for name, image in (("a", astronaut), ("b", astronaut.transpose(Image.FLIP_LEFT_RIGHT))):
        paths.append(tmp_path / f"{name}.jpg")
        paths[-1].write_bytes(_photo(image))
    photos = [str(path) for path in paths]
    common = [*photos, "--json", "--samples", "4", "--methods", "classical", "mc_dropout_soft"]
    documents = {}
    for prior in ("fer+", "uniform", "adapted"):
        assert main(["predict", *common, "--prior", prior]) == 0
        documents[prior] = json.loads(capsys.readouterr().out)
    assert "prior" not in documents["fer+"]
    estimates = documents["adapted"]["prior"]["estimates"]
    assert set(estimates) == {"classical", "mc_dropout_soft"}
    assert estimates["classical"]["faces"] == 2 and not estimates["classical"]["reliable"]
    faces = {p: d["photos"][0]["faces"][0]["methods"] for p, d in documents.items()}
    assert faces["uniform"]["mc_dropout_soft"]["mean"] != faces["fer+"]["mc_dropout_soft"]["mean"]
    assert faces["uniform"]["mc_dropout_soft"]["samples"] == 4
    assert main(["predict", *photos, "--methods", "classical", "--prior", "adapted"]) == 0
    text = capsys.readouterr().out
    assert "classical: prior estimated by EM from 2 faces" in text


def test_predict_video_reads_the_clip_under_a_prior(tmp_path, capsys):
    clip = tmp_path / "moving.mp4"
    clip.write_bytes(clips.moving_face(2.0, fps=10))
    tables = {}
    as_trained = ",".join(repr(float(v)) for v in read_row_priors()["classical"].plurality)
    for prior in ("fer+", as_trained, "adapted"):
        out, document = tmp_path / "out.csv", tmp_path / "out.json"
        argv = [
            "predict-video", str(clip), "--csv", str(out), "--json", str(document),
            "--fps", "2", "--methods", "classical", "mc_dropout_soft", "--samples", "4",
            "--placement", "head", "--quiet", "--prior", prior,
        ]  # fmt: skip  # options beside their values
        assert main(argv) == 0
        with open(out, newline="") as handle:
            tables[prior] = list(csv.DictReader(handle))
        written = json.loads(document.read_text())
    printed = capsys.readouterr().out
    assert "prior estimated by EM from 4 faces" in printed
    assert written["prior"]["estimates"]["mc_dropout_soft"]["faces"] == 4
    # FER+ Train's own prior written out reads every row as trained
    for trained, same in zip(tables["fer+"], tables[as_trained], strict=True):
        for column in ("happiness", "predictive_entropy", "top_spread"):
            if trained[column]:
                assert float(same[column]) == pytest.approx(float(trained[column]), abs=1e-6)
    assert [r["happiness"] for r in tables["adapted"]] != [r["happiness"] for r in tables["fer+"]]
