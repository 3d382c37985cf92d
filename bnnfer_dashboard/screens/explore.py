"""Explore faces: a filtered, sorted, paged grid of FER+ faces; each face's detail compares the
annotators' votes with every method's distribution and its MC spread."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from bnnfer.constants import EMOTIONS
from bnnfer.evaluation import views
from bnnfer_dashboard import facegrid, images, predictions

PAGE_SIZE = 24

st.title("Explore faces")


@st.cache_data(show_spinner="Tabulating faces...", max_entries=8)
def _frame(_preds, cache_key: tuple, keys: tuple[str, ...]) -> pd.DataFrame:
    return views.faces_frame(_preds, list(keys))


loaded = predictions.require_predictions()
if loaded is not None:
    preds, keys, labels = loaded
    frame = _frame(preds, predictions.predictions_key(preds), tuple(keys))

    with st.expander("Filters and order", expanded=True):
        top = st.columns([2, 2, 2, 2])
        preset = top[0].selectbox(
            "Preset",
            ["(none)", *views.PRESETS],
            key="explore_preset",
            help="; ".join(f"{k}: {p.description}" for k, p in views.PRESETS.items()),
        )
        method = top[1].selectbox(
            "Method (for prediction filters and sorting)",
            keys,
            key="explore_method",
            format_func=lambda k: labels.get(k, k),
        )
        sort = top[2].selectbox("Sort by", list(views.SORTS), key="explore_sort")
        descending = top[3].toggle("Highest first", value=True, key="explore_desc")
        row = st.columns([2, 2, 1, 2, 2])
        human = row[0].multiselect("Annotators' plurality", EMOTIONS, key="explore_human")
        predicted = row[1].multiselect("Predicted by the method", EMOTIONS, key="explore_pred")
        correct = row[2].radio("Method is", ["any", "right", "wrong"], key="explore_correct")
        agreement = row[3].slider("Agreement", 0.0, 1.0, (0.0, 1.0), 0.05, key="explore_agree")
        entropy = row[4].slider(
            "Vote entropy (nats)",
            0.0,
            round(math.log(8), 2),
            (0.0, round(math.log(8), 2)),
            0.05,
            key="explore_entropy",
        )

    filters = views.Filters(
        human=human,
        method=method,
        predicted=predicted,
        correct={"any": None, "right": True, "wrong": False}[correct],
        agreement=agreement,
        vote_entropy=entropy,
    )
    shown = views.apply_filters(frame, filters)
    if preset != "(none)":
        shown = views.apply_preset(shown, preset, method)
        st.caption(f"Preset: {views.PRESETS[preset].description}.")
    else:
        shown = views.sort_faces(shown, sort, method, descending)

    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    header = st.columns([3, 1, 2])
    header[0].markdown(f"**{len(shown)} faces** match (of {len(frame)}).")
    page = header[1].number_input("Page", 1, pages, 1, key="explore_page")
    header[2].download_button(
        "Export the filtered table (CSV)",
        shown.to_csv(index=False).encode(),
        file_name=f"bnnfer-{preds.split}-faces.csv",
        mime="text/csv",
        key="explore_csv",
    )
    current = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if preds.images is None:
        st.caption(images.NO_FACES_NOTE)

    facegrid.face_grid(
        preds,
        current,
        lambda face: (
            f"{face['name']}: people {face['human']} ({face['agreement']:.0%}), "
            f"model {face[f'{method}:pred']}"
        ),
    )

    st.subheader("Face detail")
    if len(current) == 0:
        st.info("No face matches these filters.")
    else:
        name = st.selectbox("Face", list(current["name"]), key="explore_face")
        face = frame[frame["name"] == name].iloc[0]
        facegrid.face_detail(preds, face, keys, labels, key="explore_detail")
