"""Calibration: reliability diagrams against the plurality label and against the annotators,
side by side, computed live from the cached samples; the ECE variants; the faces of a bin."""

from __future__ import annotations

import streamlit as st

from bnnfer.data.votes import SEVERAL_ANNOTATORS_NOTE, single_annotator
from bnnfer.evaluation import views
from bnnfer_dashboard import charts, images, predictions

st.title("Calibration")
st.markdown(
    "Left: the usual reliability diagram, where a prediction counts as right only if it names "
    "the annotators' plurality emotion. Right: the same confidences against the share of "
    "annotators who chose the predicted emotion. When several emotions are defensible, the left "
    "view calls a well-matched 60% prediction *over*confident; the right one does not."
)

loaded = predictions.require_predictions()
if loaded is not None:
    preds, keys, labels = loaded
    controls = st.columns([1, 1, 2])
    n_bins = controls[0].slider("Bins", 3, 30, 10, key="calib_bins")
    strategy = controls[1].radio(
        "Binning",
        ["width", "mass"],
        key="calib_strategy",
        horizontal=True,
        format_func={"width": "equal width", "mass": "equal mass"}.get,
    )
    chosen = controls[2].multiselect(
        "Methods in the diagrams",
        keys,
        default=keys[:4],
        key="calib_methods",
        format_func=lambda k: labels.get(k, k),
    )

    label_frames = {k: views.reliability_frame(preds, k, n_bins, strategy, "label") for k in chosen}
    human_frames = {k: views.reliability_frame(preds, k, n_bins, strategy, "human") for k in chosen}
    left, right = st.columns(2)
    left.plotly_chart(
        charts.reliability_chart(
            label_frames, labels, "Against the plurality label", "accuracy (plurality label)"
        ),
        key="calib_label_chart",
    )
    if single_annotator(preds.votes):  # the share agreeing is the label's 0 or 1
        right.info(
            "Against the annotators: each face here has one vote, so this view "
            f"{SEVERAL_ANNOTATORS_NOTE}."
        )
    else:
        right.plotly_chart(
            charts.reliability_chart(
                human_frames, labels, "Against the annotators", "share of annotators agreeing"
            ),
            key="calib_human_chart",
        )

    st.subheader("Calibration errors")
    st.dataframe(
        views.ece_frame(preds, keys, labels, n_bins).round(4), hide_index=True, key="calib_ece"
    )
    st.caption(
        "ECE: bins weighted by their number of faces; unweighted: mean over non-empty bins; "
        "adaptive: equal-mass bins; classwise: every class's probability binned against whether "
        "the plurality is that class; MCE: the largest bin gap; human ECE: the right-hand view."
    )

    st.subheader("Faces in a bin")
    if chosen:
        pick = st.columns(2)
        method = pick[0].selectbox(
            "Method", chosen, key="calib_bin_method", format_func=lambda k: labels.get(k, k)
        )
        frame = label_frames[method]
        filled = [int(i) for i in frame.index[frame["count"] > 0]]
        bin_index = pick[1].selectbox(
            "Bin",
            filled,
            key="calib_bin",
            format_func=lambda i: (
                f"{i}: confidence {frame.loc[i, 'lower']:.2f}-"
                f"{frame.loc[i, 'upper']:.2f} ({frame.loc[i, 'count']} faces)"
            ),
        )
        if bin_index is not None:
            indices = views.faces_in_bin(preds, method, bin_index, n_bins, strategy)
            st.caption(f"{len(indices)} faces; the first 24 by name:")
            cells = st.columns(8)
            for i, index in enumerate(indices[:24]):
                cells[i % 8].image(
                    images.face_image(preds, index, 2), caption=str(preds.names[index])
                )
