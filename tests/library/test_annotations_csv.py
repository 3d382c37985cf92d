"""bnnfer.data.crowd's annotations.csv: one row per vote with its annotator, read into the split's
counts and `Annotations` (kept through filtering, subsets and the cache), and every mistake in
the file one `FerPlusError` naming the file and the row."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from bnnfer import data
from bnnfer.constants import VOTE_COLUMNS
from bnnfer.data import crowd
from bnnfer.data.crowd import read_annotations
from bnnfer.data.ferplus import load_ferplus
from bnnfer.data.split import Annotations, FerPlusError

GOOD = """name,annotator,emotion
a.png,ann,happiness
a.png,ben,Happiness
a.png,cat,surprise
b.png,ann,neutral
b.png,ben,unknown
b.png,cat,unknown
c.png,ben,sadness
d.png,cat,nf
d.png,ann,anger
"""


def _folder(root, text: str = GOOD, images=("a.png", "b.png", "c.png", "d.png")):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in images:
        Image.fromarray(rng.integers(0, 256, (48, 48)).astype(np.uint8)).save(root / name)
    (root / "annotations.csv").write_text(text)
    return root


def test_annotations_give_the_counts_and_keep_who_voted(tmp_path):
    root = _folder(tmp_path / "mine")
    assert data.detect_layout(root) == "crowd" and data.available_splits(root) == ["all"]
    split = load_ferplus(root, cache_dir=False)["all"]
    # b.png's plurality is unknown: dropped as in FER+, and its votes with it
    assert list(split.names) == ["a.png", "c.png", "d.png"]
    assert split.dropped["unknown"] == 1
    column = VOTE_COLUMNS.index
    expected = np.zeros((3, 10), dtype=np.int64)
    expected[0, column("happiness")] = 2
    expected[0, column("surprise")] = 1
    expected[1, column("sadness")] = 1
    expected[2, column("NF")] = expected[2, column("anger")] = 1
    np.testing.assert_array_equal(split.votes, expected)
    ann = split.annotations
    assert ann.annotators == ("ann", "ben", "cat") and ann.faces == 3
    votes = {
        (str(split.names[f]), ann.annotators[a], VOTE_COLUMNS[c])
        for f, a, c in zip(ann.face, ann.annotator, ann.answer, strict=True)
    }
    assert votes == {
        ("a.png", "ann", "happiness"),
        ("a.png", "ben", "happiness"),
        ("a.png", "cat", "surprise"),
        ("c.png", "ben", "sadness"),
        ("d.png", "cat", "NF"),
        ("d.png", "ann", "anger"),
    }


def test_subsets_carry_the_votes_of_their_faces(tmp_path):
    split = load_ferplus(_folder(tmp_path / "mine"), cache_dir=False)["all"]
    part = split.subset(np.array([2, 0, 0]))  # reordered, one face twice
    np.testing.assert_array_equal(part.annotations.counts(), part.votes)
    only = split.subset(np.array([False, True, False]))  # c.png: ben's vote only
    assert only.annotations.annotators == ("ben",)
    np.testing.assert_array_equal(only.annotations.counts(), only.votes)
    with pytest.raises(ValueError, match="annotations must count to votes"):
        data.FerPlusSplit(
            "all", split.images, split.votes + 1, split.names, annotations=split.annotations
        )


def test_the_cache_serves_the_faces_and_the_identities_are_read_each_time(tmp_path):
    root = _folder(tmp_path / "mine")
    cache = tmp_path / "cache"
    first = load_ferplus(root, cache_dir=cache)["all"]
    (cached,) = cache.glob("ferplus-crowd-*.npz")
    second = load_ferplus(root, cache_dir=cache)["all"]
    np.testing.assert_array_equal(first.images, second.images)
    assert second.annotations.annotators == first.annotations.annotators
    np.testing.assert_array_equal(second.annotations.answer, first.annotations.answer)
    # another annotator's name changes the file, so the key: a new cache file
    (root / "annotations.csv").write_text(GOOD.replace("cat", "cy"))
    third = load_ferplus(root, cache_dir=cache)["all"]
    assert third.annotations.annotators == ("ann", "ben", "cy")
    assert len(list(cache.glob("ferplus-crowd-*.npz"))) == 2 and cached.is_file()


def test_a_votes_folder_keeps_no_identities(tmp_path):
    root = _folder(tmp_path / "mine")
    (root / "annotations.csv").unlink()
    (root / "votes.csv").write_text("name,happiness,sadness\na.png,2,1\nc.png,0,1\n")
    split = load_ferplus(root, cache_dir=False)["all"]
    assert split.annotations is None and len(split) == 2


MISTAKES = {
    "unknown emotion word": (
        GOOD.replace("c.png,ben,sadness", "c.png,ben,sad"),
        8,
        "emotion 'sad' is not one of neutral, happiness",
    ),
    "repeated face-annotator pair": (
        GOOD + "a.png,ben,anger\n",
        11,
        "annotator 'ben' votes on 'a.png' again (first at row 3)",
    ),
    "empty annotator": (
        GOOD.replace("c.png,ben,sadness", "c.png, ,sadness"),
        8,
        "the annotator of 'c.png' is empty",
    ),
    "empty name": (GOOD.replace("c.png,ben,sadness", ",ben,sadness"), 8, "image name ''"),
    "name leaving the folder": (
        GOOD.replace("c.png,ben", "../c.png,ben"),
        8,
        "must be a file's path relative to the folder of annotations.csv",
    ),
    "missing header column": (
        "name,emotion\na.png,happiness\n",
        1,
        "has no column(s) ['annotator']",
    ),
    "unknown header column": (
        "name,annotator,emotion,when\na.png,ann,happiness,today\n",
        1,
        "unknown column(s) ['when']",
    ),
    "repeated header column": (
        "name,annotator,emotion,emotion\na.png,ann,happiness,sadness\n",
        1,
        "repeated column(s) ['emotion']",
    ),
    "wrong number of cells": (GOOD + "c.png,cat\n", 11, "has 2 cells, the header has 3"),
    "empty file": ("", 1, "is empty; expected a header row"),
    "no vote rows": ("name,annotator,emotion\n\n", None, "has a header but no vote rows"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_is_one_error_naming_the_file_and_row(tmp_path, mistake):
    text, row, message = MISTAKES[mistake]
    root = _folder(tmp_path / "mine", text)
    where = f"annotations.csv, row {row}: " if row else "annotations.csv: "
    with pytest.raises(FerPlusError, match=re.escape(where) + ".*" + re.escape(message)) as error:
        load_ferplus(root, cache_dir=False)
    assert error.value.row == row and error.value.path == root / "annotations.csv"


def test_a_name_without_an_image_names_its_first_row(tmp_path):
    root = _folder(tmp_path / "mine", images=("a.png", "b.png", "d.png"))  # no c.png
    with pytest.raises(FerPlusError, match=r"annotations.csv, row 8: image 'c.png' is not in"):
        load_ferplus(root, cache_dir=False)


# GOOD counted per face, as `bnnfer annotations export` writes beside it
AGREEING = """name,neutral,happiness,surprise,sadness,anger,unknown,NF
a.png,0,2,1,0,0,0,0
b.png,1,0,0,0,0,2,0
c.png,0,0,0,1,0,0,0
d.png,0,0,0,0,1,0,1
"""


def test_a_votes_csv_that_agrees_may_lie_beside_the_annotations(tmp_path):
    root = _folder(tmp_path / "mine")
    alone = load_ferplus(root, cache_dir=False)["all"]
    (root / "votes.csv").write_text(AGREEING)
    both = load_ferplus(root, cache_dir=False)["all"]
    assert crowd.crowd_file(root) == root / "annotations.csv"
    np.testing.assert_array_equal(both.votes, alone.votes)
    assert both.annotations.annotators == alone.annotations.annotators
    for field in ("face", "annotator", "answer"):
        assert np.array_equal(getattr(both.annotations, field), getattr(alone.annotations, field))


@pytest.mark.parametrize(
    ("change", "row", "message"),
    [
        (("c.png,0,0,0,1,", "c.png,0,0,0,2,"), 4, "face 'c.png' counts {sadness: 2}, "
         "annotations.csv {sadness: 1}"),
        (("c.png,0,0,0,1,0,0,0\n", ""), None, "face 'c.png' has 1 votes in annotations.csv "
         "but no row here"),
        (("d.png", "e.png"), None, "face 'd.png' has 2 votes in annotations.csv but no row"),
    ],
)  # fmt: skip
def test_a_votes_csv_that_disagrees_names_both_files_and_the_face(tmp_path, change, row, message):
    root = _folder(tmp_path / "mine")
    (root / "votes.csv").write_text(AGREEING.replace(*change))
    with pytest.raises(FerPlusError, match=re.escape(message)) as error:
        load_ferplus(root, cache_dir=False)
    assert error.value.path == root / "votes.csv" and error.value.row == row
    assert "both annotations.csv and votes.csv" in str(error.value)


def test_a_face_only_votes_csv_names_is_a_disagreement(tmp_path):
    root = _folder(tmp_path / "mine")
    (root / "votes.csv").write_text(AGREEING + "e.png,0,1,0,0,0,0,0\n")
    with pytest.raises(FerPlusError, match=r"row 6: face 'e.png' is not in annotations\.csv"):
        load_ferplus(root, cache_dir=False)


def test_a_folder_with_neither_file_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(FerPlusError, match=r"holds neither votes\.csv .* nor annotations\.csv"):
        crowd.crowd_file(tmp_path / "mine")


def test_not_utf8_is_refused(tmp_path):
    root = _folder(tmp_path / "mine")
    (root / "annotations.csv").write_bytes(b"name,annotator,emotion\n\xff\xfe,ann,happiness\n")
    with pytest.raises(FerPlusError, match=r"annotations\.csv: is not a UTF-8 text file"):
        read_annotations(root / "annotations.csv")


def test_annotations_check_their_own_arrays():
    one = np.array([0])
    with pytest.raises(ValueError, match="votes twice"):
        Annotations(("ann",), np.array([0, 0]), np.array([0, 0]), np.array([1, 2]), 1)
    with pytest.raises(ValueError, match=r"answer must hold indices in \[0, 10\)"):
        Annotations(("ann",), one, one, np.array([10]), 1)
    with pytest.raises(ValueError, match=r"face must be \(1,\) integers"):
        Annotations(("ann",), one.astype(float), one, one, 1)
    assert crowd.ANNOTATION_COLUMNS == ("name", "annotator", "emotion")
