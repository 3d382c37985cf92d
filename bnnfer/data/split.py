"""One split in memory: faces, their votes and, where known, who cast each vote; and the one
error type for a missing or malformed FER+ folder or file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..constants import IMAGE_SIZE, NUM_VOTE_COLUMNS
from .votes import plurality_label, vote_distribution


class FerPlusError(ValueError):
    """A FER+ folder or file is missing or malformed; the message names the file, row and fix."""

    def __init__(self, path: Path | str, what: str, row: int | None = None) -> None:
        where = f"{path}" if row is None else f"{path}, row {row}"
        super().__init__(f"{where}: {what}")
        self.path = Path(path)
        self.row = row


@dataclass(frozen=True)
class Annotations:
    """Who cast each vote of a split's faces: one entry per vote, ``M`` in all.

    Attributes:
        annotators: the ``A`` annotators' names, in the order they first vote.
        face: int64 ``(M,)``, the face (row of the split) each vote is on.
        annotator: int64 ``(M,)``, who cast it (a position in ``annotators``).
        answer: int64 ``(M,)``, what they answered (a column of ``VOTE_COLUMNS``).
        faces: ``N``, the split's number of faces.

    No annotator votes twice on a face; `counts` gives the split's votes ``(N, 10)``.
    """

    annotators: tuple[str, ...]
    face: np.ndarray
    annotator: np.ndarray
    answer: np.ndarray
    faces: int

    def __post_init__(self) -> None:
        m = len(self.face)
        for name in ("face", "annotator", "answer"):
            array = getattr(self, name)
            if array.shape != (m,) or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must be ({m},) integers, got {array.dtype} {array.shape}")
        bounds = {"face": self.faces, "annotator": len(self.annotators), "answer": NUM_VOTE_COLUMNS}
        for name, bound in bounds.items():
            array = getattr(self, name)
            if m and (array.min() < 0 or array.max() >= bound):
                raise ValueError(f"{name} must hold indices in [0, {bound})")
        pairs = self.face * max(1, len(self.annotators)) + self.annotator
        if len(np.unique(pairs)) != m:
            raise ValueError("an annotator votes twice on a face")

    def counts(self) -> np.ndarray:
        """int64 ``(N, 10)``: the votes per face over ``VOTE_COLUMNS``."""
        flat = np.bincount(
            self.face * NUM_VOTE_COLUMNS + self.answer, minlength=self.faces * NUM_VOTE_COLUMNS
        )
        return flat.reshape(self.faces, NUM_VOTE_COLUMNS).astype(np.int64)

    def subset(self, index: np.ndarray | Sequence[int] | slice) -> Annotations:
        """The votes on the faces at ``index`` (as `FerPlusSplit.subset` takes it),
        the faces renumbered in that order; annotators left without a vote are left out."""
        positions = np.arange(self.faces)[index]
        order = np.argsort(self.face, kind="stable")
        start = np.searchsorted(self.face[order], positions, "left")
        length = np.searchsorted(self.face[order], positions, "right") - start
        within = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        take = order[np.repeat(start, length) + within]
        kept = np.unique(self.annotator[take])  # in their first-vote order, as before
        renumber = np.full(len(self.annotators), -1)
        renumber[kept] = np.arange(len(kept))
        return Annotations(
            annotators=tuple(self.annotators[a] for a in kept),
            face=np.repeat(np.arange(len(positions)), length),
            annotator=renumber[self.annotator[take]],
            answer=self.answer[take],
            faces=len(positions),
        )


@dataclass(frozen=True)
class FerPlusSplit:
    """One FER+ split after filtering.

    Attributes:
        split: ``"train"``, ``"valid"`` or ``"test"``; ``"all"`` for your own faces.
        images: uint8 ``(N, 48, 48)`` grayscale faces.
        votes: int64 ``(N, 10)`` raw annotator counts over ``VOTE_COLUMNS``.
        names: ``(N,)`` image file names (``fer0000000.png`` ...).
        dropped: how many faces were removed, by reason (``"unknown"``, ``"NF"``,
            ``"no_emotion_votes"``; for your own faces also ``"no_face_detected"``).
        no_face_detected: the names of the images where face detection found no face
            (`bnnfer.data.crowd`), left out and counted in ``dropped``.
        annotations: who cast each vote (`bnnfer.data.crowd.Annotations`, its counts ``votes``),
            for your own faces read from ``annotations.csv``; None where identities are unknown.
    """

    split: str
    images: np.ndarray
    votes: np.ndarray
    names: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)
    no_face_detected: tuple[str, ...] = ()
    annotations: Annotations | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.shape != (n, IMAGE_SIZE, IMAGE_SIZE) or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                f"got {self.images.dtype} {self.images.shape}"
            )
        if self.votes.shape != (n, NUM_VOTE_COLUMNS):
            raise ValueError(f"votes must be (N={n}, {NUM_VOTE_COLUMNS}), got {self.votes.shape}")
        if self.names.shape != (n,):
            raise ValueError(f"names must be (N={n},), got {self.names.shape}")
        if self.annotations is not None and not np.array_equal(
            self.annotations.counts(), self.votes
        ):
            raise ValueError("annotations must count to votes (N, 10), face by face")

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def faces_digest(self) -> str:
        """sha256 of the names and pixels: what tells two splits of the same name and image
        names apart (two folders of your own faces, or one whose images changed), so that
        predictions stored for one are never served for the other."""
        digest = hashlib.sha256("\n".join(self.names.astype(str)).encode())
        digest.update(np.ascontiguousarray(self.images).tobytes())
        return digest.hexdigest()

    @property
    def num_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def distribution(self) -> np.ndarray:
        """float64 ``(N, 8)``: the votes renormalised over the 8 emotions."""
        return vote_distribution(self.votes)

    @property
    def labels(self) -> np.ndarray:
        """int64 ``(N,)``: the plurality emotion (ties -> lower index)."""
        return plurality_label(self.votes)

    def subset(self, index: np.ndarray | Sequence[int] | slice) -> FerPlusSplit:
        """The faces at ``index`` (dropped counts are kept as they were)."""
        return FerPlusSplit(
            split=self.split,
            images=self.images[index],
            votes=self.votes[index],
            names=self.names[index],
            dropped=dict(self.dropped),
            no_face_detected=self.no_face_detected,
            annotations=None if self.annotations is None else self.annotations.subset(index),
        )
