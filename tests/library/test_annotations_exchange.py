"""Votes out of the annotations database as dataset folders that ``bnnfer evaluate`` reads,
and ``annotations.csv`` in, with the reader's errors for bad rows (and nothing stored)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bnnfer.annotations import datasets
from bnnfer.annotations.database import Ballot, VoteStore
from bnnfer.annotations.exchange import WITHOUT_IMAGES
from bnnfer.cli import main
from bnnfer.constants import VOTE_COLUMNS
from bnnfer.data.crowd import read_annotations, read_votes

PEOPLE = ("ada", "bob", "cy")


def _vote_on(store: VoteStore, dataset: str, names: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 8, (len(names), len(PEOPLE)))  # emotions only
    store.cast_many(
        [
            Ballot(dataset, name, who, VOTE_COLUMNS[answers[i, j]])
            for i, name in enumerate(names)
            for j, who in enumerate(PEOPLE)
        ]
    )


def test_ferplus_votes_export_to_a_folder_evaluate_reads(
    fake_ferplus, tiny_bundle, tmp_path, capsys
):
    root, made = fake_ferplus
    names = [str(n) for n in made["valid"][2][:10]]
    with VoteStore.open() as store:
        _vote_on(store, "ferplus:valid", names)
        _vote_on(store, datasets.PHOTOS, ["photo-0123456789abcdef.png"])
    out = tmp_path / "export"
    assert main(["annotations", "export", "--out", str(out), "--data", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "ferplus:valid: 30 votes on 10 faces" in printed
    assert "1 faces have no image here" in printed
    folder = out / "ferplus-valid"
    faces, annotations, _ = read_annotations(folder / "annotations.csv")
    assert faces == names and annotations.annotators == PEOPLE
    counted, votes, _ = read_votes(folder / "votes.csv")  # both files, the same votes
    assert counted == names and np.array_equal(votes, annotations.counts())
    assert (out / "photos" / WITHOUT_IMAGES).read_text().split() == ["photo-0123456789abcdef.png"]
    for name, image in zip(names, made["valid"][0], strict=False):
        assert np.array_equal(np.asarray(Image.open(folder / name)), image)
    _, models, _ = tiny_bundle
    argv = ["evaluate", "--models", str(models), "--data", str(folder), "--split", "all",
            "--samples", "2", "--n-boot", "10", "--out", str(tmp_path / "eval")]  # fmt: skip
    assert main(argv) == 0
    people = pd.read_csv(tmp_path / "eval" / "annotators.csv")
    assert set(PEOPLE) <= set(people.annotator)


def test_a_folder_of_images_exports_with_its_images_or_only_anonymous_counts(tmp_path, capsys):
    images = tmp_path / "mine"
    (images / "shoot").mkdir(parents=True)
    for i, name in enumerate(["a.png", "shoot/b.jpg"]):
        Image.new("RGB", (60, 80), (i * 90, 10, 10)).save(images / name)
    dataset = datasets.folder_dataset(images)
    with VoteStore.open() as store:
        _vote_on(store, dataset, ["a.png", "shoot/b.jpg"])
    out = tmp_path / "out"
    argv = ["annotations", "export", "--out", str(out), "--dataset", dataset]
    assert main([*argv, "--folder", str(images)]) == 0
    folder = out / datasets.folder_name(dataset)
    assert (folder / "shoot" / "b.jpg").read_bytes() == (images / "shoot" / "b.jpg").read_bytes()
    assert datasets.folder_dataset(images) == dataset  # the copy did not touch the source
    assert (folder / "annotations.csv").is_file() and (folder / "votes.csv").is_file()
    assert main([*argv, "--anonymous"]) == 0  # no --folder: the images are named instead
    assert "2 faces have no image here" in capsys.readouterr().out
    assert not (folder / "annotations.csv").exists()  # no name left behind
    names, votes, _ = read_votes(folder / "votes.csv")
    assert names == ["a.png", "shoot/b.jpg"] and votes.sum(axis=1).tolist() == [3, 3]


def test_import_stores_an_annotations_csv_and_export_gives_it_back(tmp_path):
    source = tmp_path / "crowd.csv"
    rows = [("f1.png", "ada", "Happiness"), ("f1.png", "bob", "NF"), ("f2.png", "ada", "fear")]
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows([("name", "annotator", "emotion"), *rows])
    assert main(["annotations", "import", str(source), "--dataset", "ferplus:train"]) == 0
    with VoteStore.open() as store:
        votes = store.votes("ferplus:train")
    assert list(zip(votes.face, votes.annotator, votes.emotion, strict=True)) == [
        ("f1.png", "ada", "happiness"),
        ("f1.png", "bob", "NF"),
        ("f2.png", "ada", "fear"),
    ]
    assert set(votes.strategy) == {"import"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["name,annotator,emotion", "f1.png,ada,joy"], "row 2: emotion 'joy' is not one of"),
        (["name,annotator,emotion", "f1.png,,happiness"], "row 2: the annotator of 'f1.png'"),
        (
            ["name,annotator,emotion", "f1.png,ada,fear", "f1.png,ada,anger"],
            "row 3: annotator 'ada' votes on 'f1.png' again",
        ),
        (["name,who,emotion", "f1.png,ada,fear"], "row 1: header"),
    ],
)
def test_an_import_with_bad_rows_names_the_row_and_stores_nothing(tmp_path, capsys, lines, message):
    source = tmp_path / "annotations.csv"
    source.write_text("\n".join(lines) + "\n")
    assert main(["annotations", "import", str(source), "--dataset", "photos"]) == 2
    error = capsys.readouterr().err
    assert str(source) in error and message in error
    with VoteStore.open() as store:
        assert store.votes().empty


def test_bad_datasets_and_databases_are_one_line_errors(tmp_path, capsys):
    source = tmp_path / "annotations.csv"
    source.write_text("name,annotator,emotion\nf.png,ada,fear\n")
    assert main(["annotations", "import", str(source), "--dataset", "mine"]) == 2
    assert "dataset 'mine' is none of ferplus:" in capsys.readouterr().err
    assert main(["annotations", "export", "--out", str(tmp_path), "--db", "nosuch://x"]) == 2
    assert "names no database driver" in capsys.readouterr().err
    argv = ["annotations", "export", "--out", str(tmp_path), "--dataset", "ferplus:test"]
    assert main(argv) == 2
    assert "dataset 'ferplus:test' holds no vote" in capsys.readouterr().err
