"""Annotate: vote on faces one at a time (keys 1-8, 9, 0), blind to the crowd and the models
until you have voted, each vote committed to the annotations database before the next face;
then see where you stand against the crowd and beside the models."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from bnnfer.annotations import queue, scoreboard
from bnnfer.annotations.database import Ballot
from bnnfer.constants import NUM_CLASSES, VOTE_COLUMNS
from bnnfer.data.votes import vote_distribution
from bnnfer.evaluation.baselines import worth_range
from bnnfer_dashboard import annotate, images, modelcard, yourvotes

st.title("Annotate")

with st.sidebar:
    st.divider()
    st.subheader("Annotate")
    annotator = st.text_input("Your name (as an annotator)", key="annotator").strip()
    st.caption(
        "A local research tool, not an account system: the name only labels your votes, and "
        "anyone can type any name. The database holds names and labels, never pixels."
    )
    st.caption(f"Votes are stored in `{yourvotes.database_caption()}`.")

store = yourvotes.store()
if store is None:
    st.stop()
if not annotator:
    st.info("Type your name in the sidebar to start voting.")
    st.stop()
if error := st.session_state.pop("annotate_error", None):
    st.error(f"Your vote was not stored: {error}")

top = st.columns([2, 2, 2])
source = top[0].radio("Faces", annotate.SOURCES, key="annotate_source")
if source == annotate.SOURCES[0]:
    found = annotate.ferplus_faces()
    if found is None:
        st.info(
            "The sidebar's data folder holds no face images (the built-in evaluation's faces "
            "are placeholders): choose your own folder of images or upload photos, or point "
            "the sidebar at a FER+ copy."
        )
elif source == annotate.SOURCES[1]:
    folder = top[0].text_input("Folder of face images", key="annotate_folder")
    found = annotate.folder_faces(folder) if folder else None
else:
    modelcard.privacy_note("photos")
    uploads = top[0].file_uploader(
        "Photos", type=["png", "jpg", "jpeg", "webp"], accept_multiple_files=True
    )
    found = annotate.photo_faces(uploads)
if found is None:
    st.stop()

frame = store.votes(found.dataset)
crowd = annotate.crowd_votes(found, frame, annotator)
mine = frame[frame.annotator == annotator]
has_votes = bool(crowd.sum(axis=1).max() > 0)
strategy = top[1].selectbox(
    "What comes next",
    queue.available(has_votes, bool(found.samples)),
    key="annotate_strategy",
    help="random; most ambiguous to people (vote entropy); where the models are least sure "
    "(mutual information); where models and people disagree most (JSD); the fewest votes so "
    "far; file order",
)
open_mode = top[2].toggle(
    "Open mode: show the crowd and the models before you vote",
    key="annotate_open",
    help="Blind by default, so that they cannot anchor you.",
)

voted = set(mine.face)
skipped = {face for dataset, face in st.session_state.get("annotate_skipped", set())
           if dataset == found.dataset}  # fmt: skip
done = np.array([name in voted or name in skipped for name in found.names])
ranked = queue.order(strategy, len(found.names), crowd, found.samples, seed=len(annotator))
current = queue.next_face(ranked, done)
back = st.session_state.get("annotate_back")
if back and back[0] == found.dataset and back[1] in found.names and back[1] not in voted:
    current = found.names.index(back[1])
st.caption(f"{len(voted)} of {len(found.names)} faces voted by {annotator} in `{found.dataset}`.")


def _reveal(index: int) -> None:
    """The crowd's votes and the models' mean distributions of face ``index``."""
    table = pd.DataFrame(index=list(VOTE_COLUMNS))
    if crowd[index].sum():
        table["crowd (votes)"] = crowd[index]
    emotions = list(VOTE_COLUMNS[:NUM_CLASSES])
    for key, samples in found.samples.items():
        mean = samples[:, index].astype(np.float64).mean(axis=0)
        table.loc[emotions, found.labels.get(key, key)] = np.round(mean / mean.sum(), 3)
    st.dataframe(table.fillna(0), width="stretch")


if current is None:
    st.success("You have voted on every face of this set (skipped ones come back on reload).")
else:
    name = found.names[current]
    started = annotate.shown_at(found.dataset, name)
    left, right = st.columns([3, 4])
    left.image(images.enlarge(found.images[current], 6), caption=name)
    with right:
        ballot = {
            "dataset": found.dataset,
            "face": name,
            "annotator": annotator,
            "strategy": strategy,
            "blind": not open_mode,
        }
        grid = st.columns(2)
        for i, (answer, (label, key)) in enumerate(annotate.ANSWERS.items()):
            grid[i % 2].button(
                f"{key} · {label}",
                key=f"annotate_vote_{answer}",
                shortcut=key,
                width="stretch",
                on_click=lambda a=answer: annotate.vote(
                    store,
                    Ballot(**ballot, emotion=a, seconds=round(time.monotonic() - started, 2)),
                ),
            )
        actions = st.columns(2)
        actions[0].button(
            "Skip (s)",
            key="annotate_skip",
            shortcut="s",
            width="stretch",
            on_click=annotate.skip,
            args=(found.dataset, name),
        )
        actions[1].button(
            "Undo (u)",
            key="annotate_undo_button",
            shortcut="u",
            width="stretch",
            disabled=not st.session_state.get("annotate_undo"),
            on_click=annotate.undo,
            args=(store, annotator),
        )
        if open_mode:
            _reveal(current)

last = st.session_state.get("annotate_last")
if last and last[0] == found.dataset and last[1] in found.names:
    index = found.names.index(last[1])
    st.subheader("Your last vote")
    cols = st.columns([1, 4])
    cols[0].image(images.enlarge(found.images[index], 2), caption=last[1])
    with cols[1]:
        st.write(f"You said **{last[2]}**.")
        _reveal(index)

st.subheader("Your scoreboard")
if mine.empty:
    st.info("Vote on a face to see where you stand against the crowd and the models.")
    st.stop()
at = {n: i for i, n in enumerate(found.names)}
mine = mine[mine.face.isin(at)]
index = np.array([at[n] for n in mine.face], dtype=np.int64)
answers = np.array([VOTE_COLUMNS.index(e) for e in mine.emotion], dtype=np.int64)
probs = {}
for key, samples in found.samples.items():
    mean = samples[:, index].astype(np.float64).mean(axis=0)
    probs[key] = mean / mean.sum(axis=1, keepdims=True)
board = scoreboard.score(crowd[index], answers, probs)


def _cell(interval, percent: bool = True) -> str:
    value, low, high = interval
    if percent:
        text = f"{value:.0%}"
        return f"{text} [{low:.0%}, {high:.0%}]" if board.with_intervals else text
    return worth_range(interval, board.max_k) if board.with_intervals else f"{value:.1f}"


if board.held_out is None:
    st.info(
        "None of your faces has two or more crowd votes yet: the agreement figures need a "
        "crowd (FER+ has ten per face; on your own faces, ask others to vote too)."
    )
else:
    note = (
        ""
        if board.with_intervals
        else (f" Intervals appear from {scoreboard.MIN_FACES_FOR_INTERVALS} faces on.")
    )
    st.caption(f"On {board.crowd_faces} of your {board.faces} faces with a crowd.{note}")
    metrics = st.columns(3)
    metrics[0].metric("Agreement with the crowd's plurality", _cell(board.plurality))
    metrics[1].metric("Agreement with a held-out annotator", _cell(board.held_out))
    metrics[2].metric("You are worth k annotators", _cell(board.worth, percent=False))
    rows = [
        {
            "who": found.labels.get(key, key),
            "agreement with a held-out annotator": _cell(row.agreement),
            "worth k annotators": _cell(row.worth, percent=False),
        }
        for key, row in board.models.items()
    ]
    if rows:
        st.markdown("**The models on the same faces**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.markdown("**Your answers against the crowd's plurality** (rows: crowd; columns: you)")
confusion = pd.DataFrame(board.confusion, index=list(VOTE_COLUMNS), columns=list(VOTE_COLUMNS))
used = confusion.index[(confusion.sum(axis=1) > 0) | (confusion.sum(axis=0) > 0)]
st.dataframe(confusion.loc[used, used], width="stretch")
if len(board.alone):
    st.markdown(
        f"**Where you stood alone** ({len(board.alone)} faces: the crowd agreed on another)"
    )
    shown = board.alone[:12]
    cols = st.columns(6)
    for slot, k in enumerate(shown):
        face = int(index[k])
        share = vote_distribution(crowd[[face]])[0] if crowd[face, :NUM_CLASSES].sum() else None
        crowd_top = VOTE_COLUMNS[int(crowd[face].argmax())]
        cols[slot % 6].image(
            images.enlarge(found.images[face], 2),
            caption=f"you: {VOTE_COLUMNS[answers[k]]}; crowd: {crowd_top}"
            + (f" ({share.max():.0%})" if share is not None else ""),
        )
