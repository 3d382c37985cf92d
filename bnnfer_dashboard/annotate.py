"""What the Annotate page needs beside its layout: the faces to vote on (FER+ from the sidebar,
your own folder of images, faces found in uploaded photos) with their crowd votes and the
models' samples, and the vote, skip and undo actions.

Faces come as a `FaceSet`; every source is cached (`st.cache_data`); the database is
`bnnfer_dashboard.yourvotes.store`'s, opened once per process. A vote is committed to the database
inside the button's callback, before the page draws the next face.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st

from bnnfer import data
from bnnfer.annotations import datasets
from bnnfer.annotations.database import AnnotationsError, Ballot, VoteStore
from bnnfer.constants import EMOTIONS, NUM_VOTE_COLUMNS, SPLITS, VOTE_COLUMNS
from bnnfer.data import crowd
from bnnfer.media import faces
from bnnfer.media.predict import predict_faces
from bnnfer_dashboard import predictions, sidebar, sources

# answer -> (button label, key): the eight emotions on 1-8, unknown on 9, not a face on 0
ANSWERS = {
    **{emotion: (emotion, str(i)) for i, emotion in enumerate(EMOTIONS, start=1)},
    "unknown": ("unknown", "9"),
    "NF": ("not a face", "0"),
}
SOURCES = ("FER+ (the sidebar's folder)", "your own folder of images", "faces in your photos")
PHOTO_SAMPLES = 10  # MC samples per face for faces of your folder and photos


class FaceSet(NamedTuple):
    """The faces to vote on: ``dataset`` (`bnnfer.annotations.datasets`), ``names`` ``(N,)``,
    ``images`` uint8 ``(N, 48, 48)``, the source's own ``votes`` int ``(N, 10)`` (zeros where
    it has none), the models' ``samples`` ``{key: (S, N, C)}`` and their ``labels``."""

    dataset: str
    names: list[str]
    images: np.ndarray
    votes: np.ndarray
    samples: dict[str, np.ndarray]
    labels: dict[str, str]


# -- the faces ------------------------------------------------------------------------------


def ferplus_faces() -> FaceSet | None:
    """The sidebar's split with its images, votes and models' samples; None where the sidebar
    shows the built-in evaluation (placeholders, no pixels) or nothing."""
    folder = sidebar.settings()["data"]
    if sources.data_source(folder).kind != "folder":
        return None
    loaded = predictions.require_predictions(your_votes=False)  # the crowd: yours are added below
    if loaded is None:
        return None
    preds, keys, labels = loaded
    if preds.images is None:
        return None
    if preds.split in SPLITS:
        dataset = datasets.ferplus_dataset(preds.split)
    else:  # your own faces (votes.csv or annotations.csv) read by the sidebar
        dataset = datasets.folder_dataset(folder)
    samples = {key: preds.samples[key] for key in keys if not predictions.is_added(key)}
    names = [str(n) for n in preds.names]
    return FaceSet(dataset, names, preds.images, np.asarray(preds.votes), samples, labels)


def _model_samples(crops: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    loaded = sidebar.models()
    if loaded is None or len(crops) == 0:
        return {}, {}
    methods, labels, _ = loaded
    per_face = predict_faces(methods, crops, samples=PHOTO_SAMPLES)
    samples = {
        key: np.stack([face[key].samples for face in per_face], axis=1) for key in methods
    }  # (S, N, C)
    return samples, labels


def _folder_votes(root: Path, names: list[str]) -> np.ndarray:
    """The folder's own votes (``votes.csv`` or ``annotations.csv``) per name; zeros else."""
    votes = np.zeros((len(names), NUM_VOTE_COLUMNS), dtype=np.int64)
    at = {name: i for i, name in enumerate(names)}
    try:
        _, listed, counts, _, _ = crowd.read_crowd(root)
    except data.FerPlusError:
        return votes
    for name, row in zip(listed, counts, strict=True):
        if name in at:
            votes[at[name]] = row
    return votes


@st.cache_data(show_spinner="Finding the faces in your folder...", max_entries=4)
def _folder_faceset(folder: str, dataset: str) -> FaceSet:
    root = Path(folder)
    names, crops = [], []
    for name in datasets.image_files(root):
        try:
            face = crowd.prepare_face(faces.decode_photo((root / name).read_bytes()))
        except (OSError, faces.PhotoError):
            continue
        if face is not None:
            names.append(name)
            crops.append(face)
    images = np.asarray(crops, dtype=np.uint8).reshape(-1, 48, 48)
    samples, labels = _model_samples(images)
    return FaceSet(dataset, names, images, _folder_votes(root, names), samples, labels)


def folder_faces(folder: str) -> FaceSet | None:
    """The faces found in a folder of images (each image's largest face), None after saying
    what is wrong."""
    try:
        dataset = datasets.folder_dataset(folder)
    except (ValueError, OSError) as error:
        st.info(f"Name a folder of face images: {error}")
        return None
    found = _folder_faceset(folder, dataset)
    if not found.names:
        st.warning(f"No face was found in the images of `{folder}`.")
        return None
    return found


@st.cache_data(show_spinner="Finding the faces in your photos...", max_entries=4)
def _photo_faceset(photos: tuple[bytes, ...]) -> FaceSet:
    crops = []
    for photo in photos:
        crops.extend(face.crop for face in faces.detect_faces(faces.decode_photo(photo)).faces)
    unique = {datasets.photo_face_name(crop): crop for crop in crops}
    images = np.asarray(list(unique.values()), dtype=np.uint8).reshape(-1, 48, 48)
    samples, labels = _model_samples(images)
    votes = np.zeros((len(unique), NUM_VOTE_COLUMNS), dtype=np.int64)
    return FaceSet(datasets.PHOTOS, list(unique), images, votes, samples, labels)


def photo_faces(uploads: list) -> FaceSet | None:
    """The faces found in uploaded photos, each named by the hash of its pixels."""
    if not uploads:
        st.info("Upload photos: each face found in them comes up to vote on.")
        return None
    try:
        faces.check_photo_count(len(uploads))
        found = _photo_faceset(tuple(upload.getvalue() for upload in uploads))
    except faces.PhotoError as error:
        st.error(str(error))
        return None
    if not found.names:
        st.warning("No face was found in these photos.")
        return None
    return found


# -- votes ----------------------------------------------------------------------------------


def crowd_votes(found: FaceSet, frame, annotator: str) -> np.ndarray:
    """The crowd of each face: the source's votes plus the other annotators' in the database,
    int ``(N, 10)``."""
    votes = found.votes.copy()
    at = {name: i for i, name in enumerate(found.names)}
    for face, emotion in zip(
        frame.face[frame.annotator != annotator],
        frame.emotion[frame.annotator != annotator],
        strict=True,
    ):
        if face in at:
            votes[at[face], VOTE_COLUMNS.index(emotion)] += 1
    return votes


def shown_at(dataset: str, face: str) -> float:
    """When ``face`` was first drawn for a vote (the seconds spent are counted from it)."""
    key = ("annotate_shown", dataset, face)
    if st.session_state.get("annotate_shown_key") != key:
        st.session_state["annotate_shown_key"] = key
        st.session_state["annotate_shown_at"] = time.monotonic()
    return st.session_state["annotate_shown_at"]


def vote(vote_store: VoteStore, ballot: Ballot) -> None:
    """Button callback: commit the vote, then remember it for undo and for the reveal."""
    try:
        vote_store.cast(ballot)
    except (AnnotationsError, ValueError) as error:
        st.session_state["annotate_error"] = str(error)
        return
    st.session_state.setdefault("annotate_undo", []).append((ballot.dataset, ballot.face))
    st.session_state["annotate_last"] = (ballot.dataset, ballot.face, ballot.emotion)


def skip(dataset: str, face: str) -> None:
    st.session_state.setdefault("annotate_skipped", set()).add((dataset, face))


def undo(vote_store: VoteStore, annotator: str) -> None:
    """Button callback: withdraw this session's last vote; that face comes back."""
    stack = st.session_state.get("annotate_undo", [])
    if not stack:
        return
    dataset, face = stack.pop()
    try:
        vote_store.withdraw(dataset, face, annotator)
    except AnnotationsError as error:
        st.session_state["annotate_error"] = str(error)
        return
    st.session_state["annotate_last"] = None
    st.session_state["annotate_back"] = (dataset, face)
