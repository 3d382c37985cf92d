"""bnnfer.data.crowd: a folder of your own annotated faces (``votes.csv`` + images of any size) read
as one split ``all``: faces prepared like photos (or resized with ``detect=False``), images
without a face reported, every bad input a `FerPlusError` naming the file and row, the cache
keyed by the files and options, single-annotator votes marked, and ``bnnfer evaluate --add``
scoring a known model's predictions on it exactly as its probabilities."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers.fakeferplus import make_split
from helpers.nets import tiny_network
from PIL import Image
from skimage import data as skimage_data

from bnnfer import data
from bnnfer.cli import main
from bnnfer.constants import EMOTIONS
from bnnfer.data import crowd
from bnnfer.data.ferplus import load_ferplus
from bnnfer.data.split import FerPlusError
from bnnfer.evaluation import metrics, views
from bnnfer.evaluation.registry import ANNOTATOR_METRICS
from bnnfer.evaluation.reporting import write_evaluation
from bnnfer.evaluation.runner import score_samples
from bnnfer.inference.cache import SplitPredictions
from bnnfer.inference.mc import mc_predict
from bnnfer.media.faces import decode_photo, detect_faces
from bnnfer.models.wrappers import from_module

# votes.csv leaves out disgust, fear, contempt and NF: absent columns are 0 votes
COLUMNS = ["name", "neutral", "happiness", "surprise", "sadness", "anger", "unknown"]
GRAY = 10  # 48x48 grayscale PNGs, the last three in a subfolder


def _write_votes(root: Path, rows: list[list[object]], header: list[str] = COLUMNS) -> None:
    with open(root / "votes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _gray_faces(root: Path, n: int = GRAY) -> tuple[list[str], np.ndarray]:
    """``n`` FER-like 48x48 grayscale PNGs under ``root``: their names and pixels."""
    images, _, _ = make_split("valid", n, seed=3)
    names = [f"face{i}.png" if i < n - 3 else f"batch2/face{i}.png" for i in range(n)]
    for name, image in zip(names, images, strict=True):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(root / name)
    return names, images


def _gray_dataset(root: Path, annotators: int = 3) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A folder of grayscale faces only (no detection needed), ``annotators`` votes each over
    the five emotion columns: names, pixels, votes ``(N, 6)`` as written."""
    root.mkdir(parents=True, exist_ok=True)
    names, images = _gray_faces(root)
    rng = np.random.default_rng(4)
    votes = np.zeros((len(names), len(COLUMNS) - 1), dtype=np.int64)
    for i in range(len(names)):
        np.add.at(votes[i], rng.integers(0, 5, annotators), 1)
    _write_votes(root, [[n, *v] for n, v in zip(names, votes.tolist(), strict=True)])
    return names, images, votes


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Grayscale faces, a real face photo (RGB JPEG, 512x512), a photo with no face (RGB
    noise) and a face whose plurality is unknown."""
    root = tmp_path_factory.mktemp("crowd")
    names, _ = _gray_faces(root)
    Image.fromarray(skimage_data.astronaut()).save(root / "astronaut.jpg", quality=95)
    noise = np.random.default_rng(0).integers(0, 256, (90, 120, 3)).astype(np.uint8)
    Image.fromarray(noise).save(root / "noise.jpg")
    rows = [[name, i % 3, 2, 0, 1, 0, 0] for i, name in enumerate(names)]
    rows[4] = [names[4], 0, 1, 0, 0, 0, 2]  # plurality unknown: dropped as in FER+
    rows += [["astronaut.jpg", 1, 4, 0, 0, 0, 0], ["noise.jpg", 0, 0, 3, 0, 0, 0]]
    _write_votes(root, rows)
    return root


@pytest.fixture(scope="module")
def detected(photos):
    return load_ferplus(photos, cache_dir=False)["all"]


def test_a_votes_folder_is_one_split_named_all(photos, detected):
    assert data.detect_layout(photos) == "crowd"
    assert data.available_splits(photos) == ["all"]
    split = detected
    assert split.split == "all" and len(split) == GRAY - 1 + 1  # one unknown, one faceless
    assert split.names[-1] == "astronaut.jpg" and "batch2/face9.png" in split.names
    assert split.dropped == {"unknown": 1, "NF": 0, "no_emotion_votes": 0, "no_face_detected": 1}
    assert split.no_face_detected == ("noise.jpg",)
    # absent columns are 0 votes; the columns land where VOTE_COLUMNS puts them
    astronaut = split.votes[-1]
    assert astronaut.tolist() == [1, 4, 0, 0, 0, 0, 0, 0, 0, 0]
    assert split.votes[:, [5, 6, 7, 9]].sum() == 0 and split.labels[-1] == 1
    # 48x48 grayscale faces are taken as they are; the photo's face is cut as the photo path
    images, _, _ = make_split("valid", GRAY, seed=3)
    np.testing.assert_array_equal(split.images[0], images[0])
    expected = detect_faces(decode_photo((photos / "astronaut.jpg").read_bytes())).faces[0].crop
    np.testing.assert_array_equal(split.images[-1], expected)
    with pytest.raises(
        FerPlusError, match=r"votes.csv: split 'valid' is not here \(present: all\)"
    ):
        load_ferplus(photos, splits=["valid"], cache_dir=False)


def test_images_without_a_face_are_reported_not_dropped_silently(photos, capsys):
    assert main(["data", "info", "--data", str(photos)]) == 0
    out = capsys.readouterr().out
    assert "all: 10 faces kept, 2 dropped (plurality unknown 1" in out
    assert "no face detected 1)" in out
    assert "no face detected in 1 image(s), left out: noise.jpg" in out and "--no-detect" in out
    assert main(["data", "info", "--data", str(photos), "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)["splits"]
    assert summary["no_face_detected"] == ["noise.jpg"]
    assert summary["dropped"]["no_face_detected"] == 1


def test_no_detect_resizes_each_whole_image(photos, detected):
    split = load_ferplus(photos, cache_dir=False, detect=False)["all"]
    assert split.no_face_detected == () and split.dropped["no_face_detected"] == 0
    assert list(split.names[-2:]) == ["astronaut.jpg", "noise.jpg"]
    whole = (
        Image.open(photos / "noise.jpg").convert("L").resize((48, 48), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(split.images[-1], np.asarray(whole))
    assert not np.array_equal(split.images[-2], detected.images[-1])  # whole photo, not the face
    np.testing.assert_array_equal(split.images[:-2], detected.images[:-1])  # 48x48 gray: as is


def test_the_cache_is_keyed_by_the_files_and_the_options(tmp_path, monkeypatch):
    root, cache = tmp_path / "faces", tmp_path / "cache"
    names, images, _ = _gray_dataset(root)
    first = load_ferplus(root, cache_dir=cache)["all"]
    assert len(list(cache.glob("ferplus-crowd-*.npz"))) == 1

    def not_again(*args, **kwargs):
        raise AssertionError("the faces were prepared again instead of read from the cache")

    with monkeypatch.context() as patch:
        patch.setattr(crowd, "_prepare_all", not_again)
        again = load_ferplus(root, cache_dir=cache)["all"]
    np.testing.assert_array_equal(again.images, first.images)
    assert again.names.tolist() == first.names.tolist() and again.dropped == first.dropped
    load_ferplus(root, cache_dir=cache, detect=False)  # another option: another key
    assert len(list(cache.glob("ferplus-crowd-*.npz"))) == 2
    Image.fromarray(255 - images[0]).save(root / names[0])  # a changed image
    os.utime(root / names[0], ns=(1, 1))
    changed = load_ferplus(root, cache_dir=cache)["all"]
    np.testing.assert_array_equal(changed.images[0], 255 - images[0])
    assert len(list(cache.glob("ferplus-crowd-*.npz"))) == 3
    with open(root / "votes.csv", "a") as handle:  # changed votes
        handle.write(f"{names[1]}2,1,0,0,0,0,0\n")
    (root / f"{names[1]}2").write_bytes((root / names[1]).read_bytes())
    assert len(load_ferplus(root, cache_dir=cache)["all"]) == GRAY + 1
    assert len(list(cache.glob("ferplus-crowd-*.npz"))) == 4


BAD_VOTES = {
    "no name column": (["image", "happiness"], [["face0.png", 1]], 1, "has no 'name' column"),
    "unknown column": (
        ["name", "happiness", "joy"],
        [["face0.png", 1, 0]],
        1,
        r"unknown column\(s\) \['joy'\]; expected 'name' and vote count columns among neutral",
    ),
    "negative count": (
        COLUMNS,
        [["face0.png", 1, 0, 0, 0, 0, 0], ["face1.png", 0, -1, 0, 0, 0, 0]],
        3,
        "vote column 'happiness' is -1, expected a count >= 0",
    ),
    "fractional count": (
        COLUMNS,
        [["face0.png", 1, 0, "1.5", 0, 0, 0]],
        2,
        "vote column 'surprise' is '1.5', expected a whole number",
    ),
    "duplicate name": (
        COLUMNS,
        [["face0.png", 1, 0, 0, 0, 0, 0], ["face0.png", 0, 1, 0, 0, 0, 0]],
        3,
        "image name 'face0.png' repeats row 2",
    ),
    "zero votes": (
        COLUMNS,
        [["face0.png", 0, 0, 0, 0, 0, 0]],
        2,
        "face 'face0.png' has no vote; expected at least one annotator's",
    ),
    "no such file": (
        COLUMNS,
        [["face0.png", 1, 0, 0, 0, 0, 0], ["absent.jpg", 1, 0, 0, 0, 0, 0]],
        3,
        r"image 'absent.jpg' is not in the folder \(.*absent.jpg is missing\)",
    ),
    "unreadable image": (
        COLUMNS,
        [["face0.png", 1, 0, 0, 0, 0, 0], ["broken.png", 1, 0, 0, 0, 0, 0]],
        3,
        r"image 'broken.png' cannot be read \(.*\); expected an image file Pillow reads",
    ),
    "path outside the folder": (
        COLUMNS,
        [["../face0.png", 1, 0, 0, 0, 0, 0]],
        2,
        "must be a file's path relative to the folder",
    ),
    "short row": (COLUMNS, [["face0.png", 1, 0]], 2, "has 3 cells, the header has 7"),
}


@pytest.mark.parametrize("case", list(BAD_VOTES))
def test_every_bad_input_names_the_file_and_row(tmp_path, case):
    header, rows, row, message = BAD_VOTES[case]
    _gray_faces(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"this is not a PNG")
    _write_votes(tmp_path, rows, header)
    votes_path = str(tmp_path / "votes.csv")
    with pytest.raises(FerPlusError, match=message) as error:
        load_ferplus(tmp_path, cache_dir=False)
    assert str(error.value).startswith(f"{votes_path}, row {row}: ")
    assert error.value.path == tmp_path / "votes.csv" and error.value.row == row
    # the command line says the same in one line, exit status 2
    assert main(["data", "info", "--data", str(tmp_path), "--no-cache"]) == 2


def test_one_vote_per_face_marks_the_human_agreement_metrics(tmp_path, capsys):
    root = tmp_path / "single"
    _gray_dataset(root, annotators=1)
    split = load_ferplus(root, cache_dir=False)["all"]
    assert data.single_annotator(split.votes)
    summary = data.describe(split)
    assert summary["mean_vote_entropy"] is None and summary["mean_agreement"] is None
    assert "needs several annotators per face" in summary["note"]
    assert main(["data", "info", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "vote entropy and agreement needs several annotators per face" in out
    probs = np.random.default_rng(0).dirichlet(np.ones(8), size=len(split))[None]
    rows = {"classical": probs, "other": probs[:, ::-1]}
    evaluation = score_samples(rows, split, n_boot=10, settings={"samples": 1})
    for key in ("classical", "other"):
        for name in ANNOTATOR_METRICS:
            assert np.isnan(evaluation.table[key][name]).all()
        assert np.isfinite(evaluation.table[key]["nll"]).all()
    paths = write_evaluation(evaluation, tmp_path / "out", tmp_path)
    document = json.loads(paths["json"].read_text())
    cell = document["metrics"]["other"]["human_ece"]
    assert cell == {"value": None, "low": None, "high": None, "note": data.SEVERAL_ANNOTATORS_NOTE}
    assert document["minus_classical"]["other"]["jsd"]["value"] is None
    assert document["metrics"]["other"]["accuracy"]["value"] is not None
    assert document["single_annotator"] is True
    report = paths["markdown"].read_text()
    assert "Every face has one vote" in report and "| needs several annotators per face |" in report
    # the dashboard's tables, computed live from the samples: NaN there, the note on the page
    preds = SplitPredictions("all", split.names, split.images, split.votes, rows, "computed")
    row = views.comparison_row(preds, "other", {})
    assert np.isnan([row["human_ece"], row["jsd_vs_classical"]]).all() and row["nll"] > 0
    assert set(views.ece_frame(preds, ["other"], {})["human ECE"]) == {data.SEVERAL_ANNOTATORS_NOTE}
    # several annotators: computed as before, nothing marked
    _gray_dataset(tmp_path / "several")
    several = load_ferplus(tmp_path / "several", cache_dir=False)["all"]
    assert not data.single_annotator(several.votes)
    assert data.describe(several)["mean_vote_entropy"] is not None


def test_a_known_model_on_your_faces_is_scored_as_its_probabilities(
    tiny_bundle, photos, tmp_path, capsys
):
    """The issue's test: a custom dataset, a predictions CSV from a known model, `bnnfer
    evaluate --data FOLDER --split all --add`, and the added row's metrics equal to those
    computed directly from the model's probabilities."""
    _, models, _ = tiny_bundle
    split = load_ferplus(photos, cache_dir=False)["all"]
    model = from_module(tiny_network(seed=7, head_scale=4.0), "classical")
    probs = mc_predict(model, split.images, precision="fp32").numpy().astype(np.float64)[0]
    with open(tmp_path / "preds.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *EMOTIONS])
        for name, row in zip(split.names, probs, strict=True):
            writer.writerow([name, *(repr(float(v)) for v in row)])
    out = tmp_path / "out"
    argv = ["evaluate", "--models", str(models), "--data", str(photos), "--split", "all",
            "--samples", "3", "--n-boot", "20", "--add", f"mymodel={tmp_path / 'preds.csv'}",
            "--out", str(out)]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "no face detected in 1 image(s), left out: noise.jpg" in printed.err
    assert "No face detected in 1 image(s), left out: noise.jpg" in printed.out  # the report
    document = json.loads((out / "metrics.json").read_text())
    assert document["split"] == "all" and document["faces"] == len(split)
    assert document["no_face_detected"] == ["noise.jpg"]
    assert {"classical", "mc_dropout", "ensemble", "mymodel"} <= set(document["metrics"])
    row = document["metrics"]["mymodel"]
    labels, votes = split.labels, split.distribution
    expected = {
        "accuracy": metrics.accuracy(probs, labels),
        "nll": metrics.nll(probs, labels),
        "ece": metrics.ece(probs, labels),
        "brier": metrics.brier(probs, labels),
        "jsd": metrics.js_divergence(votes, probs).mean(),
        "human_ece": metrics.human_ece(probs, votes),
        "entropy_spearman": metrics.entropy_spearman(probs, votes),
    }
    for name, value in expected.items():
        assert row[name]["value"] == pytest.approx(value, rel=1e-4, abs=1e-6), name
        assert row[name]["low"] <= row[name]["high"], name
    assert "mymodel" in document["minus_classical"]
    saved = np.load(out / "predictions-all.npz")
    assert saved["names"].tolist() == split.names.tolist()
    assert saved["votes"].tolist() == split.votes.tolist()


def test_split_all_of_a_fer_plus_folder_says_which_splits_are_there(fake_ferplus, capsys):
    root, _ = fake_ferplus
    assert main(["evaluate", "--data", str(root), "--split", "all", "--models", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{root}: split 'all' is not here (present: train, valid, test)" in err


def test_predictions_stored_for_one_folder_are_not_served_for_another(tiny_bundle, tmp_path):
    # two folders of your own faces: the same split name and image names, other pixels
    from bnnfer.inference import store
    from bnnfer.inference.computations import make_request
    from bnnfer.training import bundle

    _, models, _ = tiny_bundle
    methods = bundle.load_bundle(models, "cpu", ["classical", "mc_dropout"])
    first, second = tmp_path / "first", tmp_path / "second"
    names, images, _ = _gray_dataset(first)
    _gray_dataset(second)
    for name, image in zip(names, images, strict=True):
        Image.fromarray(255 - image).save(second / name)
    a = load_ferplus(first, cache_dir=False)["all"]
    b = load_ferplus(second, cache_dir=False)["all"]
    assert a.names.tolist() == b.names.tolist() and a.faces_digest != b.faces_digest
    cache = tmp_path / "predictions"
    store.get_predictions(methods, a, make_request(methods, models, a, None, 2), cache_dir=cache)
    assert (
        store.find_predictions(make_request(methods, models, a, None, 2), a, cache_dir=cache)
        is not None
    )
    assert (
        store.find_predictions(make_request(methods, models, b, None, 2), b, cache_dir=cache)
        is None
    )
    # bnnfer evaluate's file of the first folder is not the second's either
    uniform = {"classical": np.full((1, len(a), 8), 0.125)}
    evaluation = score_samples(uniform, a, n_boot=5, settings={"samples": 2})
    written = write_evaluation(evaluation, tmp_path / "evaluation", models)["predictions"]
    found = store.find_predictions(
        make_request(methods, models, a, ["classical"], 2), a, written, cache
    )
    assert found is not None and found.source == "evaluate file"
    assert (
        store.find_predictions(
            make_request(methods, models, b, ["classical"], 2), b, written, cache
        )
        is None
    )
