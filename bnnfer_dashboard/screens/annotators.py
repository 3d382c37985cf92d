"""Annotators: the people of a crowd with names (your faces' ``annotations.csv``) ranked by how
often they agree with the others, the models placed among them, each one's Dawid–Skene
confusion matrix, and the faces where one stands alone against everyone else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from bnnfer.constants import CROWD_SPLIT, METHOD_COLORS, VOTE_COLUMNS
from bnnfer.data.split import Annotations, FerPlusError
from bnnfer.evaluation import annotators, views
from bnnfer.inference import store
from bnnfer_dashboard import charts, facegrid, identities, images, predictions, sidebar, sources

RESAMPLES = 200  # the agreement intervals' bootstrap resamples, computed here
SHOWN_FACES = 24

st.title("Annotators")
st.markdown(
    "Each annotator's votes against the plurality of the other votes of the same face (the "
    "annotator left out), with a 95% interval over the faces they annotated. A model is one more "
    "annotator whose vote is its top emotion, held against the plurality of all the people; "
    "where it ranks among them says whether it reads faces like one of them. Dawid–Skene "
    "(crowd-kit) estimates each one's confusion matrix and accuracy from the crowd alone."
)


@st.cache_data(show_spinner="Scoring the annotators...", max_entries=8)
def _scores(_preds, _ann, _fit, cache_key: tuple, keys: tuple[str, ...], labels: dict):
    probs = {key: _preds.mean(key) for key in keys}
    note = "" if _fit is not None else annotators.CROWD_KIT_MISSING
    return annotators.score_annotators(
        _ann, _preds.votes, probs, labels, RESAMPLES, fit=_fit, note=note
    )


@st.cache_data(show_spinner="Tabulating faces...", max_entries=8)
def _frame(_preds, cache_key: tuple, keys: tuple[str, ...]) -> pd.DataFrame:
    return views.faces_frame(_preds, list(keys))


def _named(table: pd.DataFrame, row: int) -> str:
    kind = table.loc[row, "kind"]
    return f"{table.loc[row, 'annotator']}" + (" (model)" if kind == "model" else "")


def _ranking(scores: annotators.AnnotatorScores, keys: list[str], labels: dict) -> None:
    table = scores.table
    key_of = {labels.get(k, k): k for k in keys}
    colors = [
        METHOD_COLORS.get(key_of.get(name, ""), "#7f7f7f") if kind == "model" else "#444444"
        for name, kind in zip(table["annotator"], table["kind"], strict=True)
    ]
    people = int((table["kind"] == "person").sum())
    st.plotly_chart(
        charts.annotators_chart(table, colors, f"{people} annotators and the models, ranked"),
        key="annotators_ranking",
    )
    st.dataframe(table.round(4), hide_index=True, key="annotators_table")
    st.download_button(
        "Download annotators.csv",
        table.to_csv(index=False).encode(),
        file_name="annotators.csv",
        mime="text/csv",
        key="annotators_csv",
    )
    st.caption(
        f"Agreement: 1 when a vote names the plurality of the face's other votes, 1/t in a "
        f"t-way tie, 0 otherwise; 95% bootstrap intervals ({RESAMPLES} resamples of the faces "
        "each one annotated). Dissents: faces where the others (two or more) all agree and this "
        "one answers otherwise. `bnnfer evaluate` writes the same table as annotators.csv."
    )
    if scores.note:
        st.info(f"The Dawid–Skene columns are missing: {scores.note}")


def _confusion(scores: annotators.AnnotatorScores) -> None:
    st.subheader("Each one's confusion matrix (Dawid–Skene)")
    if not scores.confusion:
        st.info(f"{annotators.CROWD_KIT_MISSING}.")
        return
    table = scores.table
    row = st.selectbox(
        "Annotator",
        range(len(table)),
        key="annotators_matrix",
        format_func=lambda r: _named(table, r),
    )
    answers = list(scores.answers)
    matrix = scores.confusion[row][np.ix_(answers, answers)]
    st.plotly_chart(
        charts.dawid_skene_chart(
            matrix, [VOTE_COLUMNS[c] for c in answers], f"{_named(table, row)}: P(answer | true)"
        ),
        key="annotators_matrix_chart",
    )
    st.caption(
        f"Accuracy {table.loc[row, 'ds_accuracy']:.1%}: the chance of giving the true answer, "
        "weighted by how often each answer is the true one. A person's matrix is crowd-kit's "
        "estimate; a model's is read against the crowd's posterior, which it does not change."
    )


def _dissents(
    scores: annotators.AnnotatorScores,
    preds: store.SplitPredictions,
    keys: list[str],
    labels: dict,
    ann: Annotations,
) -> None:
    st.subheader("Alone against everyone else")
    table = scores.table
    rows = [r for r in range(len(table)) if len(scores.dissents[r])]
    if not rows:
        st.info("Nobody here stands alone against a unanimous rest on any face.")
        return
    row = st.selectbox(
        "Annotator", rows, key="annotators_dissent", format_func=lambda r: _named(table, r)
    )
    faces, given = scores.dissents[row], scores.dissent_answers[row]
    frame = _frame(preds, predictions.predictions_key(preds), tuple(keys))
    said = {int(f): VOTE_COLUMNS[a] for f, a in zip(faces, given, strict=True)}
    others = {int(f): VOTE_COLUMNS[int(np.argmax(preds.votes[f]))] for f in faces}
    shown = frame.iloc[faces[:SHOWN_FACES]]
    st.markdown(
        f"**{len(faces)} face{'s' if len(faces) > 1 else ''}** where {_named(table, row)} "
        "answered otherwise than all the others"
        + (f"; the first {SHOWN_FACES}:" if len(faces) > SHOWN_FACES else ":")
    )
    if preds.images is None:
        st.caption(images.NO_FACES_NOTE)
    facegrid.face_grid(
        preds,
        shown,
        lambda face: (
            f"{face['name']}: {said[int(face['index'])]}, the others {others[int(face['index'])]}"
        ),
    )
    name = st.selectbox("Face", list(shown["name"]), key="annotators_face")
    face = frame[frame["name"] == name].iloc[0]
    facegrid.face_detail(preds, face, keys, labels, key="annotators_detail")
    on_face = ann.face == int(face["index"])
    st.dataframe(
        pd.DataFrame(
            {
                "annotator": [ann.annotators[a] for a in ann.annotator[on_face]],
                "answer": [VOTE_COLUMNS[c] for c in ann.answer[on_face]],
            }
        ),
        hide_index=True,
        key="annotators_votes",
    )


chosen = sidebar.settings()
folder_of_faces = (
    sources.data_source(chosen["data"]).kind == "folder" and chosen["split"] == CROWD_SPLIT
)
if not folder_of_faces:
    st.info(identities.NO_IDENTITIES)
else:
    loaded = predictions.require_predictions()
    try:
        split = sources.load_split(chosen["data"], CROWD_SPLIT)
    except (FerPlusError, OSError):
        split = None  # require_predictions said what is wrong
    if loaded is not None and split is not None and split.annotations is None:
        st.info(
            f"These faces come with `votes.csv`, counts without names. {identities.NO_IDENTITIES}"
        )
    elif loaded is not None and split is not None:
        preds, keys, labels = loaded
        ann = identities.matched(split, preds.names)
        fit = identities.dawid_skene(ann)
        key = (*predictions.predictions_key(preds), identities.digest(ann))
        scores = _scores(preds, ann, fit, key, tuple(keys), labels)
        _ranking(scores, keys, labels)
        _confusion(scores)
        _dissents(scores, preds, keys, labels, ann)
