"""A dataset's crowd read with the annotations database's votes: added to each face's counts,
or in their place.

`counted` counts database votes per face, matched by name; `join` gives the faces and votes a
page compares the models with for each `JOINS` choice:

- ``"crowd"``: the dataset's own votes, unchanged;
- ``"crowd+yours"``: each face's votes plus the database's votes on it (same faces);
- ``"yours"``: only the faces the database holds a vote on, with those votes alone.

Votes on a face the dataset does not hold (one FER+'s plurality rule dropped, or another
split's) are left out. Pure NumPy: the database is read elsewhere (`bnnfer.annotations.database`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..constants import NUM_VOTE_COLUMNS, VOTE_COLUMNS

JOINS = ("crowd", "crowd+yours", "yours")
_ANSWERS = {column.lower(): index for index, column in enumerate(VOTE_COLUMNS)}


def counted(names: Sequence[str], faces: Sequence[str], emotions: Sequence[str]) -> np.ndarray:
    """int64 ``(N, 10)``: how many of the votes (``faces[m]`` answered ``emotions[m]``, one of
    ``VOTE_COLUMNS`` in any case) fall on each of the ``N`` ``names``, per ``VOTE_COLUMNS``.

    ``counted[i, c] = #{m : faces[m] == names[i] and emotions[m] == VOTE_COLUMNS[c]}``; votes on
    faces outside ``names`` are not counted. ValueError for repeated ``names``, ``faces`` and
    ``emotions`` of different lengths, or an emotion that is not a FER+ answer."""
    at = {str(name): i for i, name in enumerate(names)}
    if len(at) != len(names):
        raise ValueError("names must be unique: a face's votes need one row to go to")
    if len(faces) != len(emotions):
        raise ValueError(f"faces ({len(faces)}) and emotions ({len(emotions)}) must pair up")
    counts = np.zeros((len(names), NUM_VOTE_COLUMNS), dtype=np.int64)
    for face, emotion in zip(faces, emotions, strict=True):
        answer = _ANSWERS.get(str(emotion).lower())
        if answer is None:
            raise ValueError(f"emotions holds {emotion!r}, not one of {', '.join(VOTE_COLUMNS)}")
        row = at.get(str(face))
        if row is not None:
            counts[row, answer] += 1
    return counts


def join(votes: np.ndarray, yours: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """``(index, joined)``: the faces to keep (int64 positions ``(K,)``) and their votes
    int64 ``(K, 10)``, from the crowd's ``votes`` ``(N, 10)`` and the database's ``yours``
    ``(N, 10)`` (`counted`), as ``how`` (one of `JOINS`) says:

    - ``"crowd"``: ``index = 0..N-1``, ``joined = votes``;
    - ``"crowd+yours"``: ``index = 0..N-1``, ``joined = votes + yours``;
    - ``"yours"``: ``index = {i : sum_c yours[i, c] > 0}``, ``joined = yours[index]``.

    ValueError naming the argument for shapes other than ``(N, 10)``, counts that are not whole
    numbers >= 0, or an unknown ``how``."""
    if how not in JOINS:
        raise ValueError(f"how must be one of {JOINS}, got {how!r}")
    for name, array in (("votes", votes), ("yours", yours)):
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != NUM_VOTE_COLUMNS:
            raise ValueError(f"{name} must be (N, {NUM_VOTE_COLUMNS}), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer) or (array < 0).any():
            raise ValueError(f"{name} must hold whole vote counts >= 0")
    votes, yours = np.asarray(votes, dtype=np.int64), np.asarray(yours, dtype=np.int64)
    if votes.shape != yours.shape:
        raise ValueError(f"yours {yours.shape} must match votes {votes.shape}, face by face")
    if how == "yours":
        index = np.flatnonzero(yours.sum(axis=1) > 0)
        return index, yours[index]
    everyone = np.arange(len(votes), dtype=np.int64)
    return everyone, votes + yours if how == "crowd+yours" else votes.copy()
