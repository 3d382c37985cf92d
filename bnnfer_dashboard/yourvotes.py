"""Your votes in the dashboard: the annotations database this process opens, and the sidebar's
choice of whose votes every page compares the models with on a FER+ split.

The choice (`bnnfer.annotations.joined.JOINS`): the crowd (FER+'s ten annotators, the default),
the crowd and your votes (each face's counts plus the database's votes on it), or your votes
alone (only the faces the database holds a vote on). "Your votes" are every vote the annotations
database holds on that split, whoever cast them: the pages other than Annotate ask no name, and
on a team's database they are the crowd you are building together.

Joined votes change what the metrics against people read, so the predictions lose their
evaluation file (whose ``metrics.json`` was computed on FER+'s votes) and the pages' caches are
keyed by the votes as well as the names (`bnnfer_dashboard.predictions.predictions_key`).

Nothing here imports `bnnfer_dashboard.predictions` or the sidebar (which call it).
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from bnnfer.annotations import datasets, joined
from bnnfer.annotations.database import AnnotationsError, VoteStore, resolve_url, shown
from bnnfer.constants import SPLITS
from bnnfer.inference import store as predictions

JOIN_KEY = "your_votes"  # session state: the sidebar's choice
JOIN_LABELS = {
    "crowd": "the crowd",
    "crowd+yours": "the crowd and your votes",
    "yours": "your votes alone",
}


@st.cache_resource(show_spinner="Opening the annotations database...")
def _open(url: str) -> VoteStore:
    return VoteStore.open(url)


def store() -> VoteStore | None:
    """The annotations database (``$BNNFER_ANNOTATIONS`` or the default file), or None after
    saying why it cannot be used."""
    try:
        url = resolve_url()
        return _open(url.render_as_string(hide_password=False))
    except AnnotationsError as error:
        st.error(f"The annotations database cannot be used: {error}")
        return None


def database_caption() -> str:
    """The database as a person may see it (the password hidden), or why it cannot be used."""
    try:
        return shown(resolve_url())
    except AnnotationsError as error:
        return str(error)


def chosen() -> str:
    """The sidebar's choice (`JOIN_LABELS`'s keys); ``"crowd"`` until chosen."""
    return st.session_state.get(JOIN_KEY, "crowd")


def sidebar(split: str) -> None:
    """The sidebar's choice of whose votes the pages read, on a FER+ split."""
    if split not in SPLITS:
        return
    st.radio(
        "Compare the models with",
        list(JOIN_LABELS),
        key=JOIN_KEY,
        format_func=JOIN_LABELS.get,
        help=f"Your votes: every vote the annotations database (`{database_caption()}`) holds "
        f"on FER+ {split}, cast on the Annotate page or imported, whoever cast them. With "
        "your votes alone, only the faces they cover are shown.",
    )


def with_your_votes(preds: predictions.SplitPredictions) -> predictions.SplitPredictions | None:
    """``preds`` with the votes the sidebar chose: unchanged for the crowd (or a split that is
    not FER+'s), else joined with the database's votes on the split (`joined.join`); None after
    saying why where there is nothing to show."""
    how = chosen()
    if how == "crowd" or preds.split not in SPLITS:
        return preds
    votes_store = store()
    if votes_store is None:
        return None
    try:
        frame = votes_store.votes(datasets.ferplus_dataset(preds.split))
    except AnnotationsError as error:
        st.error(f"The annotations database cannot be read: {error}")
        return None
    yours = joined.counted(preds.names.astype(str), list(frame.face), list(frame.emotion))
    index, votes = joined.join(preds.votes, yours, how)
    st.sidebar.caption(
        f"Your votes: {int(yours.sum())} on {int((yours.sum(axis=1) > 0).sum())} of these "
        f"{len(preds.names)} faces, by {frame.annotator.nunique()} annotator(s)."
    )
    if not len(index):
        st.info(
            f"The annotations database holds no vote on the faces of FER+ {preds.split}: vote "
            "on the Annotate page, or compare the models with the crowd in the sidebar."
        )
        return None
    if how == "crowd+yours" and not yours.any():
        return preds  # the same votes: an evaluation's metrics still hold
    narrowed = preds.with_rows({}, index) if how == "yours" else replace(preds, file=None)
    return replace(narrowed, votes=votes)
