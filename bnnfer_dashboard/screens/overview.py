"""Overview: what bnnfer shows, the methods' comparison on the chosen split, the paper's claims."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnnfer.data.votes import SEVERAL_ANNOTATORS_NOTE, barsoum_majority
from bnnfer.evaluation import sweep, views
from bnnfer.evaluation.registry import METRICS, PAIRED_METRICS, REFERENCE, not_computable
from bnnfer.evaluation.reporting import CALIBRATION_INTERVAL_NOTE, format_interval
from bnnfer_dashboard import charts, predictions, priorchoice, sources

st.title("bnnfer: facial emotions, with the uncertainty people have")
st.markdown(
    "Ten annotators labelled every FER+ face, and they often disagree. This dashboard compares "
    "a **classical** CNN with Bayesian approximations of it (**MC-Dropout**, "
    "**MC-DropConnect**, a **deep ensemble**) and two non-Bayesian controls (temperature "
    "scaling; training on the vote distributions), asking whose predictive distribution is "
    "closest to the people's. It reproduces Matin & Valdenegro-Toro (arXiv 2008.07426)."
)


LIVE_RESAMPLES = 200  # when the table is bootstrapped here rather than read from an evaluation


@st.cache_data(show_spinner="Reading the annotators as a crowd...", max_entries=8)
def _crowd(votes):
    """The annotators of these faces as a crowd, bootstrapped here (no evaluation of them)."""
    return views.crowd(votes, n_boot=LIVE_RESAMPLES)


@st.cache_data(show_spinner="Placing the models among the annotators...", max_entries=64)
def _placed(_crowd, _preds, scope: tuple, key: str):
    """One row among the annotators, cached on its own as the table's rows are."""
    return views.place(_crowd, _preds, key)


@st.cache_data(show_spinner="Computing the comparison table...", max_entries=64)
def _row(_preds, scope: tuple, key: str, labels: dict) -> dict:
    """One method's row, cached on its own: rows arriving one by one cost one row each."""
    return views.comparison_row(_preds, key, labels, n_boot=LIVE_RESAMPLES)


# The figures themselves, shared by every tab showing the same rows (st.plotly_chart reads a
# figure, never changes it): every tab reruns as each row arrives, and building one of these
# took a quarter of a second a tab (docs/benchmarks.md, "Many sessions at once").
@st.cache_resource(max_entries=16)
def _forest(table: pd.DataFrame, metrics: dict):
    return charts.forest_chart(table, metrics)


@st.cache_resource(max_entries=16)
def _crowd_of_k(crowd: pd.DataFrame, placed: pd.DataFrame):
    return charts.crowd_of_k_chart(crowd, placed)


def _under_each_prior(preds, keys: list[str], labels: dict) -> None:
    """Your faces' metrics as trained and under each class prior
    (`bnnfer_dashboard.priorchoice`)."""
    table = priorchoice.side_by_side(
        preds, keys, sources.models_dir(), sources.builtin_evaluation_dir()
    )
    if table is None or table.empty:
        return
    st.subheader("Your faces under each class prior")
    table.insert(0, "method", [labels.get(k, k) for k in table.pop("key")])
    st.dataframe(table.round(3), hide_index=True, key="overview_priors")
    st.caption(
        "Every row read as trained (fer+: FER+'s prior), as if every emotion were equally "
        "common (uniform), and under the prior EM estimates from these faces (adapted, where "
        "a fit on FER+ Valid is at hand). Against the plurality emotion and the votes; "
        "which to choose: docs/priors.md. The sidebar's choice sets what the other tables read."
    )


loaded = predictions.require_predictions()
if loaded is not None:
    preds, keys, labels = loaded
    scope = predictions.rows_scope(preds)
    bundled = [k for k in keys if not predictions.is_added(k)]
    live, table, note = keys, None, ""  # live: the rows bootstrapped here, cached one by one
    among = None  # the rows among the annotators
    if preds.file is not None:  # an evaluation of the same faces: its metrics serve its rows
        evaluation = sources.evaluation_metrics(preds)
        table = views.comparison_from_evaluation(
            evaluation, preds, bundled, labels, sources.models_digest()
        )
        resamples = evaluation.get("n_boot")
        if len(bundled) == len(keys):
            among = views.among_annotators_from_evaluation(evaluation, keys, table is not None)
    if table is None:  # no matching evaluation: every row bootstrapped here
        resamples = LIVE_RESAMPLES
    else:
        live = [k for k in keys if predictions.is_added(k)]
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
            _forest(table, {m: METRICS[m][0] for m in PAIRED_METRICS if m not in skipped}),
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
    if priorchoice.is_own_dataset(preds.split):
        _under_each_prior(preds, keys, labels)
    st.subheader("Is a model as good as a person?")
    among_boot = resamples
    if among is None and not skipped:
        found = _crowd(preds.votes)
        if found is not None:
            rows = {key: _placed(found, preds, scope, key) for key in keys}
            among, among_boot = views.among(found, rows), LIVE_RESAMPLES
    if among is None:
        st.info(
            "Each face here has one vote: there is no crowd to hold an annotator out of, so the "
            "models cannot be placed among the annotators."
        )
    else:
        placed = views.placed_rows(among, labels)
        st.plotly_chart(_crowd_of_k(views.crowd_frame(among), placed), key="overview_annotators")
        pairwise, crowd = among.pairwise, among.curve[-1]
        st.markdown(
            f"Two annotators of a face agree **{100 * pairwise[0]:.1f}%** of the time; the "
            f"plurality of {among.max_k} others predicts a held-out annotator "
            f"**{100 * crowd[0]:.1f}%** of the time. Each model's top emotion, against a "
            "held-out annotator:"
        )
        st.markdown("\n".join(f"- {sentence}" for sentence in placed["sentence"]))
        st.caption(
            "A held-out annotator is one of a face's annotators drawn at random; the crowd of k "
            "is k of the others, drawn without replacement, whose plurality (ties split evenly) "
            "predicts that annotator's vote. A model is worth k annotators where its agreement "
            "meets the curve (interpolated), with a 95% bootstrap interval over faces "
            f"({among_boot} resamples). Agreement counts every vote as "
            f"cast: {100 * among.emotion_share:.1f}% of the votes name an emotion, the most a "
            "model that names emotions only can match."
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

swept = sources.rate_sweep()
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
    if swept.get("models_digest") != sources.models_digest():
        st.caption(
            "This sweep was scored with an earlier bundle than the one loaded: its rows at "
            "p = 0.1 and its ensemble are that bundle's networks, not the table's above. It shows "
            "how claim 1 moves with the rate, not the loaded rows' values."
        )
    st.code(sweep.verdict(swept), language=None)
