"""The annotators' names in the dashboard (your own faces with ``annotations.csv``): the sidebar's
lines about your faces and the choice of reference, the Dawid–Skene fit, and the identities and
the reference matched to the faces a page shows.

Nothing here imports `bnnfer_dashboard.predictions` or `bnnfer_dashboard.sidebar` (which call
it): the loaded split is passed in.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import bnnfer
from bnnfer import data
from bnnfer.data.split import Annotations
from bnnfer.evaluation import annotators
from bnnfer.inference import store

REFERENCE_KEY = "reference"  # session state: the sidebar's reference
REFERENCE_LABELS = {"votes": "the votes", "dawid-skene": "the Dawid–Skene posterior"}
NO_IDENTITIES = (
    "This page needs a crowd with its annotators' names. FER+ (and the built-in evaluation) "
    "ships vote counts only, no annotator identities. To score your own annotators, point the "
    "sidebar's data folder at a folder of faces with an `annotations.csv`, one row per vote "
    "(`name,annotator,emotion`, the emotion one of FER+'s ten answers): docs/data.md."
)


def chosen_reference() -> str:
    """The sidebar's reference (`bnnfer.evaluation.annotators.REFERENCES`); ``"votes"`` until
    chosen."""
    return st.session_state.get(REFERENCE_KEY, "votes")


def own_faces_sidebar(faces: bnnfer.FerPlusSplit, folder: str) -> None:
    """The sidebar's lines for a folder of your own faces: what was read (and the images where
    no face was found, by name) and, where the votes have names, the choice of reference."""
    ann = faces.annotations
    what = "`votes.csv`" if ann is None else f"`annotations.csv`, {len(ann.annotators)} annotators"
    st.caption(f"Showing **your faces** ({len(faces)}, {what}) read from `{folder}`.")
    if faces.no_face_detected:
        st.warning(data.no_face_text(faces.no_face_detected).replace(" or pass --no-detect", ""))
    if ann is None:
        return
    available = annotators.crowd_kit_available()
    st.radio(
        "Metrics against people read against",
        list(REFERENCE_LABELS),
        key=REFERENCE_KEY,
        format_func=REFERENCE_LABELS.get,
        disabled=not available,
        help="JSD, KL, TV, soft Brier, human ECE and entropy Spearman compare a model with "
        "the people: with their vote distribution, or with the Dawid–Skene estimate of each "
        "face's true emotion, which weighs each annotator by how reliable they are.",
    )
    if not available:
        st.caption(f"{annotators.CROWD_KIT_MISSING}.")


def digest(ann: Annotations) -> str:
    """sha256 of who answered what on which face: what keys caches of ``ann``."""
    digest = hashlib.sha256("\n".join(ann.annotators).encode())
    for array in (ann.face, ann.annotator, ann.answer):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


@st.cache_data(show_spinner="Fitting Dawid–Skene (crowd-kit)...", max_entries=4)
def _fit(_ann: Annotations, digest: str) -> annotators.DawidSkene:
    return annotators.dawid_skene(_ann)


def dawid_skene(ann: Annotations) -> annotators.DawidSkene | None:
    """Dawid–Skene fitted to ``ann`` once per set of votes; None without crowd-kit."""
    if not annotators.crowd_kit_available():
        return None
    return _fit(ann, digest(ann))


def _positions(faces: bnnfer.FerPlusSplit, names: np.ndarray) -> np.ndarray:
    """Where each of ``names`` lies among the split's faces: int64 ``(len(names),)``."""
    position = {str(name): i for i, name in enumerate(faces.names)}
    return np.array([position[str(name)] for name in names], dtype=np.int64)


def matched(faces: bnnfer.FerPlusSplit, names: np.ndarray) -> Annotations | None:
    """The split's `Annotations` for the faces ``names`` (a page's predictions, which may
    cover some of the split's faces only), in that order; None without names."""
    if faces.annotations is None:
        return None
    return faces.annotations.subset(_positions(faces, names))


def with_reference(
    preds: store.SplitPredictions, faces: bnnfer.FerPlusSplit
) -> store.SplitPredictions:
    """``preds`` read against the sidebar's reference: unchanged for the votes (or where the
    votes have no names, or crowd-kit is missing), else the Dawid–Skene posterior fitted to the
    votes on their faces (the fit the Annotators page shows)."""
    if chosen_reference() == "votes" or faces.annotations is None:
        return preds
    fit = dawid_skene(matched(faces, preds.names))
    if fit is None:
        return preds
    try:
        distribution = annotators.reference_distribution(preds.votes, "dawid-skene", fit)
    except ValueError as error:  # a face the posterior gives no emotion
        st.warning(f"The metrics are read against the votes: {error}")
        return preds
    return preds.with_reference("dawid-skene", distribution)
