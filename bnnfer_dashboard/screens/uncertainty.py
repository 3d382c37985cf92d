"""Uncertainty: how the methods' uncertainty is spread over the faces, how it tracks the
annotators' disagreement, where the errors fall, and what setting uncertain faces aside buys."""

from __future__ import annotations

import numpy as np
import streamlit as st

from bnnfer.constants import EMOTIONS
from bnnfer.data.votes import SEVERAL_ANNOTATORS_NOTE, single_annotator
from bnnfer.evaluation import metrics, views
from bnnfer_dashboard import charts, images, predictions

st.title("Uncertainty")

SCORES = {
    "predictive entropy (total)": "predictive_entropy",
    "mutual information (epistemic)": "mutual_information",
    "expected entropy (aleatoric)": "expected_entropy",
}

loaded = predictions.require_predictions()
if loaded is not None:
    preds, keys, labels = loaded
    human = preds.human
    single = single_annotator(preds.votes)  # one vote a face: vote entropy is 0 everywhere
    score_name = st.radio("Score", list(SCORES), horizontal=True, key="unc_score")
    score = SCORES[score_name]
    values = {k: metrics.uncertainty_scores(preds.samples64(k))[score] for k in keys}
    histogram = dict(values)
    axis_labels = dict(labels)
    if score != "mutual_information" and not single:
        histogram = {"human": human["entropy"], **histogram}
        axis_labels["human"] = "Annotators (vote entropy)"
    st.plotly_chart(
        charts.histogram_chart(histogram, axis_labels, f"{score_name} per face", f"{score} (nats)"),
        key="unc_hist",
    )

    st.subheader("Model entropy against vote entropy")
    method = st.selectbox("Method", keys, key="unc_method", format_func=lambda k: labels.get(k, k))
    if single:
        st.info(
            "Each face here has one vote, so its vote entropy is 0: this comparison "
            f"{SEVERAL_ANNOTATORS_NOTE}."
        )
    else:
        entropy = metrics.entropy(preds.mean(method))
        rho = metrics.spearman(entropy, human["entropy"])
        st.plotly_chart(
            charts.scatter_chart(
                human["entropy"],
                entropy,
                preds.names,
                method,
                f"{labels.get(method, method)}: Spearman rho = {rho:.3f}",
                "vote entropy (nats)",
                "model predictive entropy (nats)",
            ),
            key="unc_scatter",
        )

    st.subheader("Confusion matrix")
    matrix = views.confusion(preds, method)
    st.plotly_chart(
        charts.confusion_chart(matrix, f"{labels.get(method, method)} against the annotators"),
        key="unc_confusion",
    )
    pick = st.columns(2)
    truth = pick[0].selectbox("Annotators' plurality", EMOTIONS, key="unc_truth")
    predicted = pick[1].selectbox("Predicted", EMOTIONS, key="unc_pred")
    cell = np.flatnonzero(
        (human["plurality"] == EMOTIONS.index(truth))
        & (preds.mean(method).argmax(axis=1) == EMOTIONS.index(predicted))
    )
    st.caption(f"{len(cell)} faces in this cell; the first 24:")
    cells = st.columns(8)
    for i, index in enumerate(cell[:24]):
        cells[i % 8].image(images.face_image(preds, index, 2), caption=str(preds.names[index]))

    st.subheader("Rejection curve")
    curves = {k: views.rejection_curve(preds, k, score) for k in keys}
    st.plotly_chart(charts.rejection_chart(curves, labels), key="unc_rejection")
