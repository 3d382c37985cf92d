"""The class prior in the dashboard: the sidebar's choice of the population's prior
(`bnnfer.evaluation.priors.parse_prior`: ``fer+`` as trained, the default; ``uniform``; ``adapted``;
explicit frequencies), every row's samples ``(S, N, C)`` read under it (`bnnfer.evaluation.adapt`),
the estimated prior drawn beside FER+'s, and each choice's metrics side by side.

What is adapted over: on a split's pages, the faces being read (after the votes the sidebar
chose); on the photo page, every face of the uploaded photos together; on the video page, the
clip's faces. The estimators' fits on FER+ Valid come, as for ``bnnfer evaluate --prior``, from
the rows as sampled on Valid when Valid is read, else from the built-in evaluation of Valid
(which must have been made by these models); without one, ``adapted`` reads as trained and
says so.

A reading under another prior is not what an evaluation file's ``metrics.json`` describes, so
the predictions lose their file (the Overview then bootstraps its table live, as for joined
votes), their ``source`` names the prior (`bnnfer_dashboard.predictions.predictions_key` holds
it) and `scope` goes into `bnnfer_dashboard.predictions.rows_scope`. The photo and video pages
key their caches by `scope` too.

Nothing here imports `bnnfer_dashboard.predictions` or `bnnfer_dashboard.sidebar` (which call
it): folders are passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from bnnfer.constants import SPLITS
from bnnfer.data.votes import plurality_label, vote_distribution
from bnnfer.evaluation import adapt
from bnnfer.evaluation.priors import PriorChoice, PriorEstimate, RowPrior, SourceFit, parse_prior
from bnnfer.inference import store
from bnnfer.media.predict import PhotoPrediction
from bnnfer.models.checkpoints import CheckpointError
from bnnfer_dashboard import charts

PRIOR_KEY = "prior"  # session state: the sidebar's choice
FREQUENCIES_KEY = "prior_frequencies"  # session state: the explicit frequencies typed
AS_TRAINED_KEY = "_bnnfer_as_trained"  # session state: the last predictions before re-reading
PRIOR_LABELS = {
    "fer+": "FER+'s, as trained",
    "uniform": "uniform",
    "adapted": "adapted to the faces",
    "explicit": "frequencies you give",
}
SIDE_BY_SIDE = ("fer+", "uniform", "adapted")  # the choices `side_by_side` compares


def chosen() -> PriorChoice | None:
    """The sidebar's choice; ``fer+`` until chosen; None when the frequencies typed are not a
    prior (the sidebar says why)."""
    kind = st.session_state.get(PRIOR_KEY, "fer+")
    text = st.session_state.get(FREQUENCIES_KEY, "") if kind == "explicit" else kind
    try:
        return parse_prior(text)
    except ValueError:
        return None


def scope() -> str:
    """What a reading depends on of the choice (for the pages' cache keys)."""
    return str(chosen() or "fer+")


def sidebar() -> None:
    """The sidebar's choice of the class prior every page reads the rows under."""
    kind = st.radio(
        "Class prior of the faces",
        list(PRIOR_LABELS),
        key=PRIOR_KEY,
        format_func=PRIOR_LABELS.get,
        help="How common each emotion is among the faces you read. The networks learned "
        "FER+'s (36% neutral); on another population (posed expressions, a balanced set) "
        "read them under its prior: uniform, estimated from the faces (at least 300 of "
        "them), or frequencies you know. docs/priors.md.",
    )
    if kind == "explicit":
        st.text_input(
            "Frequencies (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt)",
            key=FREQUENCIES_KEY,
            placeholder="0,0.21,0.25,0.09,0.14,0.18,0.08,0.05",
        )
        try:
            parse_prior(st.session_state.get(FREQUENCIES_KEY, ""))
        except ValueError as error:
            st.error(f"{error}. The rows are read as trained meanwhile.")


@st.cache_resource(max_entries=4)
def _row_priors(models: str, mtime: float) -> dict[str, RowPrior]:
    return adapt.read_row_priors(models)


@st.cache_resource(max_entries=4)
def _shipped_fits(models: str, evaluation: str, mtime: float) -> dict[str, SourceFit]:
    return adapt.shipped_source_fits(models, evaluation)


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0


def row_priors(models: Path) -> dict[str, RowPrior] | None:
    """The bundle's rows' training priors, or None after saying why they cannot be read."""
    try:
        return _row_priors(str(models), _stamp(models / "priors.json"))
    except CheckpointError as error:
        st.warning(f"The rows are read as trained: {error}")
        return None


def shipped_fits(models: Path, evaluation: Path) -> dict[str, SourceFit] | None:
    """The rows' fits on the built-in evaluation of Valid, or None after saying why not."""
    path = evaluation / "predictions-valid.npz"
    try:
        return _shipped_fits(str(models), str(evaluation), _stamp(path))
    except CheckpointError as error:
        st.warning(f"The adapted prior needs a fit on FER+ Valid; read as trained: {error}")
        return None


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@st.cache_data(show_spinner="Reading the rows under the chosen prior...", max_entries=64)
def _read_row(
    _samples: np.ndarray,
    digest: str,
    key: str,
    choice: str,
    _row: RowPrior,
    _fit: SourceFit | None,
    fit_scope: tuple,
) -> tuple[np.ndarray, PriorEstimate | None]:
    """One row's samples ``(S, N, C)`` (sha256 ``digest``) read under ``choice``, cached on
    its own as the rows arrive; ``fit_scope`` says where the fit came from."""
    read, estimates = adapt.read_rows(
        {key: _samples}, parse_prior(choice), {key: _row}, None if _fit is None else {key: _fit}
    )
    return read[key].astype(np.float32), estimates.get(key)


def _fits(
    preds: store.SplitPredictions, models: Path, evaluation: Path
) -> tuple[dict[str, SourceFit] | None, tuple]:
    """The fits ``adapted`` estimates with, and what identifies them: on FER+ Valid the rows
    as sampled there (`bnnfer.evaluation.adapt.source_fits`), elsewhere the built-in
    evaluation's."""
    if preds.split == "valid":
        return adapt.source_fits(preds.samples, preds.votes), ("own", _digest(preds.votes))
    return shipped_fits(models, evaluation), ("shipped", str(evaluation))


def read(
    preds: store.SplitPredictions,
    choice: PriorChoice,
    models: Path,
    evaluation: Path,
) -> tuple[store.SplitPredictions, dict[str, PriorEstimate]] | None:
    """``preds`` with every row's samples read under ``choice`` (rows without a training
    prior, uploaded ones, as they are), and the estimates made for ``adapted``; None after
    saying why they cannot be read so."""
    rows = row_priors(models)
    if rows is None:
        return None
    fits, fit_scope = _fits(preds, models, evaluation) if choice.kind == "adapted" else ({}, ())
    if fits is None:
        return None
    samples, estimates = {}, {}
    for key, array in preds.samples.items():
        if key not in rows:
            samples[key] = array
            continue
        samples[key], estimate = _read_row(
            array, _digest(array), key, str(choice), rows[key], fits.get(key), fit_scope
        )
        if estimate is not None:
            estimates[key] = estimate
    shown = replace(
        preds, samples=samples, file=None, source=f"{preds.source}, read under the {choice} prior"
    )
    return shown, estimates


def with_prior(
    preds: store.SplitPredictions, labels: dict[str, str], models: Path, evaluation: Path
) -> store.SplitPredictions:
    """``preds`` read under the sidebar's choice (unchanged under ``fer+``), the adapted
    estimate drawn in the sidebar; read as trained, with the reason, where they cannot be."""
    choice = chosen()
    st.session_state[AS_TRAINED_KEY] = preds
    if choice is None or choice.kind == "fer+":
        return preds
    found = read(preds, choice, models, evaluation)
    if found is None:
        return preds
    shown, estimates = found
    if estimates:
        with st.sidebar.expander("The estimated class prior", expanded=True):
            show_estimates(estimates, labels, rows=row_priors(models), key="sidebar_prior")
    return shown


def as_trained(preds: store.SplitPredictions) -> store.SplitPredictions:
    """The predictions `with_prior` last re-read into ``preds``, as trained (``preds`` itself
    when it was not re-read)."""
    before = st.session_state.get(AS_TRAINED_KEY)
    if before is None or before.split != preds.split:
        return preds
    return before if np.array_equal(before.names, preds.names) else preds


def show_estimates(
    estimates: dict[str, PriorEstimate],
    labels: dict[str, str],
    rows: dict[str, RowPrior] | None,
    key: str,
) -> None:
    """Each row's estimated prior beside FER+ Train's, with its interval, and why an estimate
    is unreliable where it is."""
    if not estimates or rows is None:
        return
    training = next(iter(rows.values())).plurality
    st.plotly_chart(charts.estimated_prior_chart(training, estimates, labels), key=key)
    faces = next(iter(estimates.values())).faces
    warnings = sorted({w for e in estimates.values() for w in e.warnings})
    st.caption(
        f"Estimated by EM from these {faces} faces, each row on its own; the bars are 95% "
        "intervals over the faces, too narrow (docs/priors.md)."
        + (f" Unreliable: {'; '.join(warnings)}." if warnings else "")
    )


def reread_photos(
    photos: list[PhotoPrediction], labels: dict[str, str], models: Path, evaluation: Path
) -> list[PhotoPrediction]:
    """The photos' predictions read under the sidebar's choice, every face of every photo
    together (`bnnfer.evaluation.adapt.reread_photos`), the adapted estimate drawn; as they are,
    with the reason, where they cannot be."""
    choice = chosen()
    if choice is None or choice.kind == "fer+" or not photos:
        return photos
    rows = row_priors(models)
    fits = shipped_fits(models, evaluation) if choice.kind == "adapted" else None
    if rows is None or (choice.kind == "adapted" and fits is None):
        return photos
    redone, estimates = adapt.reread_photos(photos, choice, rows, fits)
    st.caption(f"Every face read under the {choice} prior (sidebar).")
    show_estimates(estimates, labels, rows, key="photo_prior")
    return redone


def video_context(models: Path, evaluation: Path) -> tuple | None:
    """What reading a clip under the sidebar's choice needs, ``(choice text, rows, fits)``
    (hashable by the text alone in a cached call's leading-underscore arguments), or None under
    ``fer+`` or where it cannot be read so (said)."""
    choice = chosen()
    if choice is None or choice.kind == "fer+":
        return None
    rows = row_priors(models)
    fits = shipped_fits(models, evaluation) if choice.kind == "adapted" else None
    if rows is None or (choice.kind == "adapted" and fits is None):
        return None
    return str(choice), rows, fits


@st.cache_data(show_spinner="Reading the rows under each prior...", max_entries=16)
def _side_by_side(_preds: store.SplitPredictions, key: tuple, _rows, _fits, keys: tuple):
    labels, votes = plurality_label(_preds.votes), vote_distribution(_preds.votes)
    table = []
    for text in SIDE_BY_SIDE:
        if text == "adapted" and _fits is None:
            continue
        read, _ = adapt.read_rows(
            {k: _preds.samples[k] for k in keys}, parse_prior(text), _rows, _fits
        )
        for k in keys:
            mean = read[k].mean(axis=0)
            mean = mean / mean.sum(axis=1, keepdims=True)
            values = {
                header: float(fn(mean, labels, votes))
                for header, fn in adapt.CHOICE_METRICS.values()
            }
            table.append({"key": k, "prior": text, **values})
    return pd.DataFrame(table)


def side_by_side(
    preds: store.SplitPredictions, keys: list[str], models: Path, evaluation: Path
) -> pd.DataFrame | None:
    """The rows' accuracy, JSD and calibration as trained and under each of `SIDE_BY_SIDE`
    (``adapted`` where a fit on Valid is at hand), one row per method and prior, columns
    ``key``, ``prior`` and `bnnfer.evaluation.adapt.CHOICE_METRICS`'s headers; None where the rows'
    training priors cannot be read."""
    preds = as_trained(preds)
    rows = row_priors(models)
    if rows is None:
        return None
    bundled = tuple(k for k in keys if k in rows)
    fits = (
        adapt.source_fits(preds.samples, preds.votes)
        if preds.split == "valid"
        else shipped_fits(models, evaluation)
    )
    digests = tuple(_digest(preds.samples[k]) for k in bundled)
    key = (preds.split, _digest(preds.votes), digests, str(models), fits is None, bundled)
    return _side_by_side(preds, key, rows, fits, bundled)


def is_own_dataset(split: str) -> bool:
    """Whether ``split`` is a folder of one's own faces (not one of FER+'s)."""
    return split not in SPLITS
