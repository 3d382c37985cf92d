"""Faces laid out on a page: a grid of them with captions, and one face's detail (its votes
against every method's distribution and uncertainty). Explore faces and Annotators share them;
both take rows of `bnnfer.evaluation.views.faces_frame`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from bnnfer.inference import store
from bnnfer_dashboard import charts, images

COLUMNS = 8  # faces a grid row


def face_grid(
    preds: store.SplitPredictions,
    faces: pd.DataFrame,
    caption: Callable[[pd.Series], str],
    columns: int = COLUMNS,
    scale: int = 2,
) -> None:
    """``faces`` (rows of `bnnfer.evaluation.views.faces_frame`) as a grid, ``columns`` a row, each
    at
    ``48 * scale`` px with ``caption(row)`` beneath."""
    for start in range(0, len(faces), columns):
        cells = st.columns(columns)
        rows = faces.iloc[start : start + columns].iterrows()
        for cell, (_, face) in zip(cells, rows, strict=False):
            cell.image(images.face_image(preds, int(face["index"]), scale), caption=caption(face))


def face_detail(
    preds: store.SplitPredictions,
    face: pd.Series,
    keys: Sequence[str],
    labels: dict[str, str],
    key: str,
) -> None:
    """One face (a row of `bnnfer.evaluation.views.faces_frame`): the face, the annotators'
    plurality and agreement, a chart of the votes against every method's mean and MC spread, and a
    table of each method's prediction and uncertainty. ``key`` prefixes the elements' keys."""
    index, name = int(face["index"]), face["name"]
    left, right = st.columns([1, 3])
    left.image(images.face_image(preds, index, 4), caption=name)
    left.markdown(
        f"Annotators: **{face['human']}**, agreement {face['agreement']:.0%}, vote entropy "
        f"{face['vote_entropy']:.2f} nats, {face['votes']} emotion votes."
    )
    votes = preds.human["distribution"][index]
    samples = {k: preds.samples64(k)[:, index] for k in keys}
    right.plotly_chart(
        charts.distribution_chart(votes, samples, labels, f"{name}: people and models"),
        key=f"{key}_chart",
    )
    table = pd.DataFrame(
        {
            "method": [labels.get(k, k) for k in keys],
            "prediction": [face[f"{k}:pred"] for k in keys],
            "total (entropy)": [face[f"{k}:entropy"] for k in keys],
            "aleatoric (expected entropy)": [face[f"{k}:aleatoric"] for k in keys],
            "epistemic (mutual information)": [face[f"{k}:mi"] for k in keys],
            "JSD to votes": [face[f"{k}:jsd"] for k in keys],
        }
    )
    st.dataframe(table.round(4), hide_index=True, key=f"{key}_table")
    st.caption(
        "Uncertainty in nats over the S samples: total = H(mean), aleatoric = mean of "
        "H(sample), epistemic = total - aleatoric. Error bars: one standard deviation over "
        f"the samples. Vote distribution sums to {np.sum(votes):.0f}."
    )
