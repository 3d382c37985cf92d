"""Overview: what bnnfer shows, the methods' comparison on the chosen split, the paper's claims."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnnfer import sweep, views
from bnnfer.data import SEVERAL_ANNOTATORS_NOTE, barsoum_majority
from bnnfer.evaluate import (
    CALIBRATION_INTERVAL_NOTE,
    METRICS,
    PAIRED_METRICS,
    REFERENCE,
    format_interval,
    not_computable,
)
from dashboard import charts, shared

shared.through_the_entry_point()
st.title("bnnfer: facial emotions, with the uncertainty people have")
st.markdown(
    "Ten annotators labelled every FER+ face, and they often disagree. This dashboard compares "
    "a **classical** CNN with Bayesian approximations of it (**MC-Dropout**, "
    "**MC-DropConnect**, a **deep ensemble**) and two non-Bayesian controls (temperature "
    "scaling; training on the vote distributions), asking whose predictive distribution is "
    "closest to the people's. It reproduces Matin & Valdenegro-Toro (arXiv 2008.07426)."
)


LIVE_RESAMPLES = 200  # when the table is bootstrapped here rather than read from an evaluation


@st.cache_data(show_spinner="Computing the comparison table...", max_entries=64)
def _row(_preds, scope: tuple, key: str, labels: dict) -> dict:
    """One method's row, cached on its own: rows arriving one by one cost one row each."""
    return views.comparison_row(_preds, key, labels, n_boot=LIVE_RESAMPLES)


loaded = shared.require_predictions()
if loaded is not None:
    preds, keys, labels = loaded
    scope = shared.rows_scope(preds)
    bundled = [k for k in keys if not shared.is_added(k)]
    live, table, note = keys, None, ""  # live: the rows bootstrapped here, cached one by one
    if preds.file is not None:  # an evaluation of the same faces: its metrics serve its rows
        evaluation = shared.evaluation_metrics(preds)
        table = views.comparison_from_evaluation(
            evaluation, preds, bundled, labels, shared.models_digest()
        )
        resamples = evaluation.get("n_boot")
    if table is None:  # no matching evaluation: every row bootstrapped here
        resamples = LIVE_RESAMPLES
    else:
        live = [k for k in keys if shared.is_added(k)]
        note = f" Your rows: {LIVE_RESAMPLES} resamples, computed here." if live else ""
    if live:
        rows = pd.DataFrame([_row(preds, scope, key, labels) for key in live])
        table = rows if table is None else pd.concat([table, rows], ignore_index=True)
    st.subheader(f"The methods on {preds.split} ({len(preds.names)} faces)")
    shown = table[["method", "S"]].copy()

    def intervals(name: str, **style) -> list[str]:
        columns = (table[name], table[f"{name}_low"], table[f"{name}_high"])
        return [format_interval(*cells, **style) for cells in zip(*columns, strict=True)]

    skipped = not_computable(preds.votes)  # one vote per face: no human-agreement metrics
    for name in views.OVERVIEW_METRICS:
        shown[METRICS[name][0]] = intervals(
            name, missing=SEVERAL_ANNOTATORS_NOTE if name in skipped else "n/a"
        )
    if f"jsd_vs_{REFERENCE}" in table.columns and "jsd" not in skipped:
        shown["JSD minus classical (paired)"] = intervals(
            f"jsd_vs_{REFERENCE}", digits=4, signed=True, missing=""
        )
    left, right = st.columns([3, 2])
    left.dataframe(shown, hide_index=True, key="comparison")
    if REFERENCE in keys and len(keys) > 1:
        right.plotly_chart(
            charts.forest_chart(
                table, {m: METRICS[m][0] for m in PAIRED_METRICS if m not in skipped}
            ),
            key="overview_forest",
        )
    st.caption(
        f"Value [95% bootstrap interval, {resamples} resamples]. Accuracy, NLL and ECE are "
        f"measured against the annotators' plurality emotion on all {len(preds.names)} faces; "
        "Accuracy (Barsoum majority) is the FER+ papers' protocol, on the "
        f"{int(barsoum_majority(preds.votes)[0].sum())} faces where, single votes discarded, "
        "one emotion holds more than half of the votes; JSD (natural log, at most ln 2) "
        "and human ECE against their vote distribution; Spearman correlates model entropy with "
        "vote entropy. The paired column scores both methods on the same resampled faces: an "
        "interval without 0 is a real difference in JSD from the classical network. "
        f"{CALIBRATION_INTERVAL_NOTE} Predictions: {preds.source}.{note}"
    )
    st.subheader("The paper's claims, on this data")
    claims = [] if skipped else views.paper_claims(table)
    if skipped:
        st.info(
            "Each face here has one vote: the claims compare the methods with the annotators' "
            f"vote distributions, which {SEVERAL_ANNOTATORS_NOTE}."
        )
    elif not claims:
        st.info("Select the classical method in the sidebar to judge the claims.")
    for claim in claims:
        st.markdown(f"**{claim['claim']}** — {claim['verdict']}.")

swept = shared.rate_sweep()
if swept is not None:
    st.subheader("Claim 1 against the dropout rate")
    rows = [r for m in sweep.SWEPT_METHODS for r in sweep.by_rate(swept, m)]
    ensemble = next((r for r in swept["rows"] if r["key"] == "ensemble"), None)
    st.plotly_chart(charts.rate_sweep_chart(rows, ensemble), key="overview_rate_sweep")
    st.caption(
        "The bundled MC networks drop with p = 0.1 in every block. Networks trained the same "
        "way with other rates (`bnnfer sweep`, docs/results.md) answer whether claim 1 depends "
        f"on the rate. On FER+ {swept['split']} ({swept['faces']} faces, S = "
        f"{swept['samples']}, {swept['n_boot']} paired resamples):"
    )
    st.code(sweep.verdict(swept), language=None)
