"""bnnfer.annotations.joined: the database's votes counted per face by name (checked against
pandas' crosstab) and joined to a crowd's votes, added or in their place."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnnfer.annotations.joined import JOINS, counted, join
from bnnfer.constants import VOTE_COLUMNS


def _random_votes(rng, names, m):
    faces = rng.choice([*names, "elsewhere.png"], m)
    emotions = rng.choice(VOTE_COLUMNS, m)
    return list(faces), list(emotions)


def test_counted_matches_a_crosstab_and_ignores_faces_elsewhere():
    rng = np.random.default_rng(0)
    names = [f"fer{i:07d}.png" for i in range(30)]
    faces, emotions = _random_votes(rng, names, 200)
    expected = (
        pd.crosstab(pd.Series(faces, name="face"), pd.Series(emotions, name="emotion"))
        .reindex(index=names, columns=list(VOTE_COLUMNS), fill_value=0)
        .to_numpy()
    )
    got = counted(names, faces, [e.upper() for e in emotions])  # any case
    np.testing.assert_array_equal(got, expected)
    assert got.sum() == sum(f != "elsewhere.png" for f in faces)


def test_join_adds_or_replaces_face_by_face():
    rng = np.random.default_rng(1)
    crowd = rng.integers(0, 4, (12, 10))
    yours = np.zeros((12, 10), dtype=np.int64)
    yours[[2, 7, 9], [1, 0, 3]] = 1
    yours[7, 4] = 1  # two annotators of the database on face 7
    index, joined = join(crowd, yours, "crowd")
    assert index.tolist() == list(range(12)) and np.array_equal(joined, crowd)
    index, joined = join(crowd, yours, "crowd+yours")
    assert index.tolist() == list(range(12))
    for i in range(12):
        assert joined[i].tolist() == [a + b for a, b in zip(crowd[i], yours[i], strict=True)]
    index, joined = join(crowd, yours, "yours")
    assert index.tolist() == [2, 7, 9]
    assert joined.sum(axis=1).tolist() == [1, 2, 1] and np.array_equal(joined, yours[[2, 7, 9]])
    assert set(JOINS) == {"crowd", "crowd+yours", "yours"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: counted(["a", "a"], [], []), "names must be unique"),
        (lambda: counted(["a"], ["a"], []), r"faces \(1\) and emotions \(0\)"),
        (lambda: counted(["a"], ["a"], ["joy"]), "emotions holds 'joy'"),
        (lambda: join(np.zeros((2, 10), int), np.zeros((2, 10), int), "all"), "how must be"),
        (lambda: join(np.zeros((2, 8), int), np.zeros((2, 10), int), "crowd"), "votes must be"),
        (lambda: join(np.zeros((2, 10)), np.zeros((2, 10), int), "crowd"), "votes must hold"),
        (lambda: join(np.zeros((2, 10), int), -np.ones((2, 10), int), "yours"), "yours must hold"),
        (lambda: join(np.zeros((2, 10), int), np.zeros((3, 10), int), "yours"), "yours \\(3"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
