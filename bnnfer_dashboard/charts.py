"""Plotly figures for the dashboard: one builder per chart kind, with titles, axis labels, hover
text and each method's colour (the same on every page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bnnfer.constants import EMOTIONS, METHOD_COLORS


def _color(key: str) -> str:
    return METHOD_COLORS.get(key, "#7f7f7f")


def distribution_chart(
    votes: np.ndarray | None,
    samples: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    title: str,
) -> go.Figure:
    """Grouped bars per emotion: the annotators' distribution and each method's mean, with the
    MC spread (one standard deviation over the samples ``(S, C)``) as error bars."""
    figure = go.Figure()
    if votes is not None:
        figure.add_bar(
            x=list(EMOTIONS),
            y=votes,
            name="Annotators",
            marker_color=_color("human"),
            hovertemplate="annotators<br>%{x}: %{y:.2f}<extra></extra>",
        )
    for key, array in samples.items():
        mean, spread = array.mean(axis=0), array.std(axis=0)
        figure.add_bar(
            x=list(EMOTIONS),
            y=mean,
            name=labels.get(key, key),
            marker_color=_color(key),
            error_y={"type": "data", "array": spread, "visible": len(array) > 1},
            customdata=np.stack([spread, np.full(len(mean), len(array))], axis=1),
            hovertemplate=f"{labels.get(key, key)}<br>%{{x}}: %{{y:.3f}} ± %{{customdata[0]:.3f}}"
            " (S = %{customdata[1]:.0f})<extra></extra>",
        )
    figure.update_layout(
        title=title,
        barmode="group",
        xaxis_title="emotion",
        yaxis_title="probability",
        yaxis_range=[0, 1],
        legend_title="source",
        margin={"t": 50, "b": 40},
    )
    return figure


def reliability_chart(
    frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str], title: str, outcome: str
) -> go.Figure:
    """Mean outcome against mean confidence per bin; the diagonal is perfect calibration."""
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="perfect calibration",
        line={"dash": "dash", "color": "#999999"},
        hoverinfo="skip",
    )
    for key, frame in frames.items():
        filled = frame[frame["count"] > 0]
        figure.add_scatter(
            x=filled["confidence"],
            y=filled["accuracy"],
            mode="lines+markers",
            name=labels.get(key, key),
            line={"color": _color(key)},
            marker={"size": 6 + 14 * np.sqrt(filled["count"] / max(1, frame["count"].max()))},
            customdata=np.stack(
                [filled.index, filled["count"], filled["lower"], filled["upper"]], axis=1
            ),
            hovertemplate=f"{labels.get(key, key)}<br>bin %{{customdata[0]}} "
            "[%{customdata[2]:.2f}, %{customdata[3]:.2f}]<br>confidence %{x:.3f}<br>"
            f"{outcome} %{{y:.3f}}<br>%{{customdata[1]}} faces<extra></extra>",
        )
    figure.update_layout(
        title=title,
        xaxis_title="mean confidence (max probability)",
        yaxis_title=outcome,
        xaxis_range=[0, 1.02],
        yaxis_range=[0, 1.02],
        margin={"t": 50, "b": 40},
    )
    return figure


def histogram_chart(
    values: Mapping[str, np.ndarray], labels: Mapping[str, str], title: str, axis: str
) -> go.Figure:
    """Overlaid histograms, one per source (``"human"`` for the annotators)."""
    figure = go.Figure()
    for key, array in values.items():
        figure.add_histogram(
            x=array,
            name=labels.get(key, key),
            marker_color=_color(key),
            opacity=0.55,
            nbinsx=40,
            hovertemplate=f"{labels.get(key, key)}<br>{axis} %{{x}}<br>%{{y}} faces<extra></extra>",
        )
    figure.update_layout(
        title=title,
        barmode="overlay",
        xaxis_title=axis,
        yaxis_title="faces",
        margin={"t": 50, "b": 40},
    )
    return figure


def scatter_chart(
    x: np.ndarray, y: np.ndarray, names: np.ndarray, key: str, title: str, xaxis: str, yaxis: str
) -> go.Figure:
    figure = go.Figure()
    figure.add_scattergl(
        x=x,
        y=y,
        mode="markers",
        marker={"color": _color(key), "size": 4, "opacity": 0.5},
        text=names,
        name=key,
        hovertemplate="%{text}<br>" + xaxis + " %{x:.3f}<br>" + yaxis + " %{y:.3f}<extra></extra>",
    )
    figure.update_layout(
        title=title, xaxis_title=xaxis, yaxis_title=yaxis, margin={"t": 50, "b": 40}
    )
    return figure


def confusion_chart(matrix: np.ndarray, title: str) -> go.Figure:
    """Heatmap of counts: rows the annotators' plurality, columns the prediction."""
    shares = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=list(EMOTIONS),
            y=list(EMOTIONS),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=matrix,
            texttemplate="%{text}",
            colorbar={"title": "row share"},
            hovertemplate="annotators: %{y}<br>predicted: %{x}<br>%{text} faces "
            "(%{z:.0%} of the row)<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="predicted emotion",
        yaxis_title="annotators' plurality emotion",
        yaxis_autorange="reversed",
        margin={"t": 50, "b": 40},
    )
    return figure


def annotators_chart(table: pd.DataFrame, colors: Sequence[str], title: str) -> go.Figure:
    """Annotators and models ranked: each row of
    `bnnfer.evaluation.annotators.AnnotatorScores.table` as its agreement with the leave-one-out
    plurality and its 95% interval, top first; a person a grey dot, a model a diamond in ``colors``
    (one per row)."""
    rows = table.reset_index(drop=True)
    model = (rows["kind"] == "model").to_numpy()
    names = [f"{n} (model)" if m else str(n) for n, m in zip(rows["annotator"], model, strict=True)]
    values = rows["agreement"].to_numpy(dtype=float)
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=names,
            mode="markers",
            marker={
                "color": list(colors),
                "symbol": np.where(model, "diamond", "circle"),
                "size": np.where(model, 12, 8),
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": rows["agreement_high"].to_numpy(dtype=float) - values,
                "arrayminus": values - rows["agreement_low"].to_numpy(dtype=float),
                "color": "#888",
            },
            customdata=rows["votes"],
            hovertemplate="%{y}: %{x:.1%} over %{customdata} votes<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="agreement with the plurality of the other votes (95% interval)",
        xaxis_tickformat=".0%",
        yaxis={"autorange": "reversed", "type": "category"},
        height=140 + 24 * len(rows),
        margin={"t": 50, "b": 40},
    )
    return figure


def dawid_skene_chart(matrix: np.ndarray, answers: Sequence[str], title: str) -> go.Figure:
    """Heatmap of one annotator's Dawid–Skene confusion matrix ``(K, K)`` over ``answers``:
    row the true answer, column the answer given, each cell ``P(given | true)``."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(answers),
            y=list(answers),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            texttemplate="%{z:.2f}",
            colorbar={"title": "P(answer | true)"},
            hovertemplate="true: %{y}<br>answered: %{x}<br>%{z:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="answer given",
        yaxis_title="true answer (Dawid–Skene)",
        yaxis_autorange="reversed",
        margin={"t": 50, "b": 40},
    )
    return figure


def rejection_chart(frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> go.Figure:
    figure = go.Figure()
    for key, frame in frames.items():
        figure.add_scatter(
            x=frame["rejected"],
            y=frame["accuracy"],
            mode="lines+markers",
            name=labels.get(key, key),
            line={"color": _color(key)},
            hovertemplate=f"{labels.get(key, key)}<br>%{{x:.0%}} set aside<br>"
            "accuracy %{y:.3f}<extra></extra>",
        )
    figure.update_layout(
        title="Accuracy when the most uncertain faces are set aside",
        xaxis_title="share of faces set aside (most uncertain first)",
        yaxis_title="accuracy on the faces kept",
        xaxis_tickformat=".0%",
        margin={"t": 50, "b": 40},
    )
    return figure


def forest_chart(
    table: pd.DataFrame, metrics: Mapping[str, str], reference: str = "classical"
) -> go.Figure:
    """A forest plot: per metric (one panel each, two panels a row; ``{name: panel title}``),
    every method's paired difference from ``reference`` as a point with its 95% interval, and a
    line at 0. Reads the ``{metric}_vs_{reference}`` columns of
    `bnnfer.evaluation.views.comparison_table`; rows without them (the reference itself) are left
    out."""
    from plotly.subplots import make_subplots

    rows = table[table["key"] != reference]
    grid = (len(metrics) + 1) // 2
    figure = make_subplots(
        rows=grid,
        cols=2,
        shared_yaxes=True,
        subplot_titles=list(metrics.values()),
        vertical_spacing=0.5 / max(1, grid * len(rows) / 4),
        horizontal_spacing=0.06,
    )
    for i, name in enumerate(metrics):
        column = f"{name}_vs_{reference}"
        if column not in rows.columns:
            continue
        values = rows[column].to_numpy(dtype=float)
        low = values - rows[f"{column}_low"].to_numpy(dtype=float)
        high = rows[f"{column}_high"].to_numpy(dtype=float) - values
        where = {"row": i // 2 + 1, "col": i % 2 + 1}
        figure.add_scatter(
            x=values,
            y=rows["method"],
            mode="markers",
            showlegend=False,
            marker={"color": [_color(k) for k in rows["key"]], "size": 9},
            error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            hovertemplate="%{y}: %{x:+.4f}<extra></extra>",
            **where,
        )
        figure.add_vline(x=0, line_dash="dot", line_color="#888", **where)
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        title=f"Minus the {reference} network, 95% paired intervals",
        height=100 + grid * (50 + 28 * len(rows)),
        margin={"l": 10, "r": 10, "t": 70, "b": 30},
    )
    return figure


def rate_sweep_chart(rows: Sequence[Mapping], ensemble: Mapping | None) -> go.Figure:
    """Claim 1 against the stochastic-layer rate: per MC method (one line each), the paired JSD
    difference from the classical network at each block rate, with its 95% interval; a line at
    0 (no closer to the votes than the classical network) and, for scale, the ensemble's
    difference as a shaded band. ``rows`` are `bnnfer.evaluation.sweep` rows (``method``, ``rate``,
    ``jsd_minus_classical`` as ``[value, lo, hi]``)."""
    figure = go.Figure()
    for method in sorted({r["method"] for r in rows}):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["rate"])
        values = np.array([r["jsd_minus_classical"] for r in mine], dtype=float)  # (R, 3)
        figure.add_scatter(
            x=[r["rate"] for r in mine],
            y=values[:, 0],
            mode="lines+markers",
            name=method,
            line={"color": _color(method)},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": values[:, 2] - values[:, 0],
                "arrayminus": values[:, 0] - values[:, 1],
            },
            hovertemplate=f"{method}, p = %{{x}}: %{{y:+.4f}}<extra></extra>",
        )
    figure.add_hline(y=0, line_dash="dot", line_color="#888", annotation_text="classical")
    if ensemble is not None:
        value, low, high = ensemble["jsd_minus_classical"]
        figure.add_hrect(y0=low, y1=high, fillcolor=_color("ensemble"), opacity=0.15, line_width=0)
        figure.add_hline(
            y=value, line_color=_color("ensemble"), annotation_text="ensemble (any rate)"
        )
    figure.update_layout(
        title="JSD to the votes minus the classical network's, by block rate (95% paired)",
        xaxis_title="stochastic-layer rate p in every block",
        yaxis_title="JSD difference (below 0: closer to the people)",
        height=420,
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    return figure


def crowd_of_k_chart(crowd: pd.DataFrame, rows: pd.DataFrame) -> go.Figure:
    """Agreement with a held-out annotator against the size k of the crowd predicting it
    (`bnnfer.evaluation.views.crowd_frame`: points with 95% intervals), and each model
    (`bnnfer.evaluation.views.placed_rows`) as a horizontal band over its own interval with a line
    at its agreement, in its colour: where a line crosses the curve is what the model is worth."""
    figure = go.Figure()
    for row in rows.itertuples():
        figure.add_hrect(
            y0=100 * row.low,
            y1=100 * row.high,
            fillcolor=_color(row.key),
            opacity=0.15,
            line_width=0,
        )
        figure.add_scatter(
            x=[0.8, len(crowd) + 0.2],
            y=[100 * row.agreement] * 2,
            mode="lines",
            name=row.method,
            line={"color": _color(row.key), "width": 2},
            hovertemplate=f"{row.method}: %{{y:.1f}}% ({row.sentence})<extra></extra>",
        )
    figure.add_scatter(
        x=crowd["k"],
        y=100 * crowd["agreement"],
        mode="lines+markers",
        name="Plurality of k annotators",
        line={"color": _color("human"), "width": 3},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": 100 * (crowd["high"] - crowd["agreement"]),
            "arrayminus": 100 * (crowd["agreement"] - crowd["low"]),
        },
        customdata=crowd["faces"],
        hovertemplate="plurality of %{x} others: %{y:.1f}% (%{customdata} faces)<extra></extra>",
    )
    figure.update_layout(
        title="Agreement with a held-out annotator",
        xaxis_title="k: annotators whose plurality predicts the held-out one",
        yaxis_title="agrees (%)",
        xaxis={"dtick": 1},
        legend_title="predictor",
        margin={"t": 50, "b": 40},
    )
    return figure


def estimated_prior_chart(
    training: np.ndarray, estimates: Mapping, labels: Mapping[str, str]
) -> go.Figure:
    """Grouped bars per emotion: FER+ Train's class prior ``training`` ``(C,)`` (the share of
    faces at each plurality emotion) and each row's prior estimated from the faces being read
    (``{key: bnnfer.evaluation.priors.PriorEstimate}``), its 95% interval as error bars. A row whose
    estimate is undefined is left out."""
    faces = next(iter(estimates.values())).faces if estimates else 0
    figure = go.Figure()
    figure.add_bar(
        x=list(EMOTIONS),
        y=np.asarray(training, dtype=float),
        name="FER+ Train (as trained)",
        marker_color="#444444",
        hovertemplate="FER+ Train<br>%{x}: %{y:.3f}<extra></extra>",
    )
    for key, estimate in estimates.items():
        prior = np.asarray(estimate.prior, dtype=float)
        if not np.all(np.isfinite(prior)):
            continue
        figure.add_bar(
            x=list(EMOTIONS),
            y=prior,
            name=labels.get(key, key),
            marker_color=_color(key),
            error_y={
                "type": "data",
                "symmetric": False,
                "array": np.maximum(np.asarray(estimate.high) - prior, 0),
                "arrayminus": np.maximum(prior - np.asarray(estimate.low), 0),
            },
            hovertemplate=f"{labels.get(key, key)}<br>%{{x}}: %{{y:.3f}}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        title=f"The class prior estimated from {faces} faces, beside FER+'s",
        yaxis_title="share of faces",
        legend_title="prior",
        margin={"t": 60, "b": 40},
    )
    return figure
