"""What the "Your video" page shows of a `bnnfer.media.video.VideoPrediction` table: a summary row
per track, the stretches where the methods disagree, and a track's emotions over time.

The table has one row per (time_s, track, method) with the 8 emotion probabilities, the
predictive entropy, the mutual information and the MC spread of the top emotion
(`bnnfer.media.video.COLUMNS`). Pure pandas and plotly: no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bnnfer.constants import EMOTIONS

# one colour per emotion, the same on every track's chart (plotly's default sequence)
EMOTION_COLORS = dict(
    zip(
        EMOTIONS,
        ("#7f7f7f", "#2ca02c", "#ff7f0e", "#1f77b4", "#d62728", "#8c564b", "#9467bd", "#e377c2"),
        strict=True,
    )
)
DISAGREE_FILL = "rgba(214, 39, 40, 0.12)"


def top_emotions(table: pd.DataFrame) -> pd.Series:
    """The likeliest emotion of each row."""
    return table[list(EMOTIONS)].idxmax(axis=1)


def track_summary(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """One row per track for ``method``: when it was seen, its dominant emotion (the most
    frequent top emotion), the share of its sampled instants each emotion was on top, and its
    mean predictive entropy and mutual information (NaN for a method giving one sample)."""
    rows = table[table["method"] == method].assign(top=lambda t: top_emotions(t))
    summary = []
    for track, group in rows.groupby("track", sort=True):
        shares = group["top"].value_counts(normalize=True)
        summary.append(
            {
                "track": int(track),
                "seen (s)": f"{group.time_s.min():.1f}-{group.time_s.max():.1f}",
                "dominant": shares.idxmax(),
                **{emotion: float(shares.get(emotion, 0.0)) for emotion in EMOTIONS},
                "mean entropy": float(group["predictive_entropy"].mean()),
                "mean MI": float(group["mutual_information"].mean()),
            }
        )
    columns = ["track", "seen (s)", "dominant", *EMOTIONS, "mean entropy", "mean MI"]
    return pd.DataFrame(summary, columns=columns)


def disagreements(table: pd.DataFrame, track: int, step: float) -> list[tuple[float, float]]:
    """The stretches ``(start, end)`` in seconds where the methods' top emotions for ``track``
    differ; each sampled instant covers ``step`` seconds around it, and neighbouring instants
    (no further apart than 1.5 steps) join into one stretch."""
    rows = table[table["track"] == track].assign(top=lambda t: top_emotions(t))
    split = rows.groupby("time_s")["top"].nunique()
    times = split.index[split > 1].to_numpy(dtype=float)
    segments: list[tuple[float, float]] = []
    for at in times:
        if segments and at - segments[-1][1] <= step:
            segments[-1] = (segments[-1][0], at + step / 2)
        else:
            segments.append((max(0.0, at - step / 2), at + step / 2))
    return segments


def timeline_chart(
    table: pd.DataFrame,
    track: int,
    method: str,
    label: str,
    segments: Sequence[tuple[float, float]] = (),
) -> go.Figure:
    """Each emotion's probability over time for ``method`` on ``track``, the MC spread of the
    top emotion as a band (±1 standard deviation over the samples), the mutual information
    beneath, and the stretches where the methods disagree shaded in both panels."""
    rows = table[(table["track"] == track) & (table["method"] == method)].sort_values("time_s")
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06
    )
    times = rows["time_s"].to_numpy()
    top = rows[list(EMOTIONS)].max(axis=1).to_numpy()
    spread = rows["top_spread"].to_numpy(dtype=float)
    if np.isfinite(spread).any():
        band = np.nan_to_num(spread)
        figure.add_scatter(
            x=np.concatenate([times, times[::-1]]),
            y=np.concatenate([np.minimum(top + band, 1), np.maximum(top - band, 0)[::-1]]),
            fill="toself",
            fillcolor="rgba(68, 68, 68, 0.18)",
            line={"width": 0},
            name="MC spread of the top emotion (±1 sd)",
            hoverinfo="skip",
            row=1,
            col=1,
        )
    for emotion in EMOTIONS:
        figure.add_scatter(
            x=times,
            y=rows[emotion],
            mode="lines+markers",
            marker={"size": 4},
            line={"color": EMOTION_COLORS[emotion], "width": 2},
            name=emotion,
            hovertemplate=f"{emotion}<br>%{{x:.1f}} s: %{{y:.3f}}<extra></extra>",
            row=1,
            col=1,
        )
    information = rows["mutual_information"]
    figure.add_scatter(
        x=times,
        y=information,
        mode="lines+markers",
        marker={"size": 4},
        line={"color": "#444444"},
        name="mutual information",
        hovertemplate="MI<br>%{x:.1f} s: %{y:.4f} nats<extra></extra>",
        row=2,
        col=1,
    )
    for start, end in segments:
        for row in (1, 2):
            figure.add_vrect(
                x0=start,
                x1=end,
                fillcolor=DISAGREE_FILL,
                line_width=0,
                layer="below",
                row=row,
                col=1,
            )
    note = " (the methods disagree in the shaded stretches)" if segments else ""
    if information.isna().all():
        note += "; one sample per face: no mutual information"
    figure.update_layout(
        title=f"Track {track}: {label}{note}",
        legend_title="emotion",
        margin={"t": 60, "b": 40},
        height=460,
    )
    figure.update_yaxes(title_text="probability", range=[0, 1], row=1, col=1)
    figure.update_yaxes(title_text="MI (nats)", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="time (s)", row=2, col=1)
    return figure
