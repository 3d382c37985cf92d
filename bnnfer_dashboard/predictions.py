"""The predictions a page shows, and what keys its caches.

Where they come from, cheapest first:

1. a FER+ folder is readable: ``bnnfer evaluate``'s file, the shipped evaluation or bnnfer's cache
   when one matches the split, else a `bnnfer.inference.computations.Computation` shared by every
   session of this process, whose rows are shown as they finish (a progress bar per pending row,
   refreshed each second by a fragment that also tells the computation someone waits);
2. no FER+ folder: the evaluation shipped in ``bnnfer/assets/evaluation`` (votes and samples of
   FER+ Valid, no images), shown with a placeholder where each face would be.

The sidebar's choices select them (`bnnfer_dashboard.sidebar`), with the rows uploaded there,
your votes (`bnnfer_dashboard.yourvotes`) and the class prior (`bnnfer_dashboard.priorchoice`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st

import bnnfer
from bnnfer import data
from bnnfer.evaluation import external
from bnnfer.inference import computations, store
from bnnfer_dashboard import identities, priorchoice, sidebar, sources, yourvotes
from bnnfer_dashboard.sources import stamp


class Choice(NamedTuple):
    """What the sidebar asks predictions for: a tuple, so it keys Streamlit's caches."""

    models_folder: str
    data_folder: str
    split: str
    samples: int
    placement: str


@st.cache_data(show_spinner="Reading the built-in evaluation...", max_entries=4)
def _builtin_predictions(path: str, digest: str, samples: int, mtime: float):
    return store.evaluation_predictions(path, digest, samples)


@st.cache_data(show_spinner="Reading cached predictions...", max_entries=8)
def _stored_predictions(
    choice: Choice, files: tuple[str, ...], stamps: tuple[float, ...]
) -> store.SplitPredictions | None:
    methods, _, _ = sources.load_models(choice.models_folder, choice.placement)
    faces = sources.load_split(choice.data_folder, choice.split)
    request = computations.make_request(
        methods, choice.models_folder, faces, list(methods), choice.samples
    )
    return store.find_predictions(request, faces, evaluation_file=list(files))


def _stored(choice: Choice) -> store.SplitPredictions | None:
    """Predictions from an evaluation file or bnnfer's cache; None when none fits. Files
    written while the app runs are picked up at the next run (their times key the cache)."""
    files = [sources.evaluation_dir() / f"predictions-{choice.split}.npz"]
    builtin = sources.builtin_meta()
    if builtin.get("split") == choice.split:
        files.append(Path(builtin["path"]))
    methods, _, _ = sources.load_models(choice.models_folder, choice.placement)
    cache = store.cache_path(
        data.default_cache_dir(),
        sources.models_digest(),
        choice.split,
        bnnfer.models.methods.placements(methods),
    )
    stamps = tuple(stamp(p) for p in [*files, cache])
    present = tuple(str(p) for p in files if p.is_file())
    return _stored_predictions(choice, present, stamps)


@st.fragment(run_every=1.0)
def _progress(computation: computations.Computation, shown: frozenset, labels: dict) -> None:
    """The pending rows' progress, refreshed every second; reruns the page when a row is done."""
    computation.touch()
    if frozenset(computation.finished) != shown or not computation.alive:
        st.rerun()
    st.caption(
        "Running the models on this split: rows appear as they finish, and the pages stay "
        "usable meanwhile. Every finished batch is kept on disk."
    )
    for key in computation.order:
        if key not in computation.finished:
            done, total = computation.progress[key]
            st.progress(done / total, text=f"{labels.get(key, key)}: {done}/{total} faces")


def current_choice() -> Choice:
    chosen = sidebar.settings()
    return Choice(
        str(sources.models_dir()),
        chosen["data"],
        chosen["split"],
        int(chosen["samples"]),
        chosen["placement"],
    )


def require_predictions(
    your_votes: bool = True,
) -> tuple[store.SplitPredictions, list[str], dict[str, str]] | None:
    """The predictions the sidebar asks for and the chosen methods among those ready, with the
    votes it chose (`bnnfer_dashboard.yourvotes`; FER+'s own with ``your_votes`` False); on missing
    data or models, a message and None."""
    loaded = sidebar.models()
    if loaded is None:
        return None
    methods, labels, _ = loaded
    chosen = sidebar.settings()
    wanted = [k for k in (chosen["methods"] or list(methods)) if k in methods]
    if not wanted:
        st.info("Choose at least one method in the sidebar.")
        return None
    choice = current_choice()
    source = sources.data_source(choice.data_folder)
    if source.kind == "none":
        no_data_help(choice.data_folder, source.problem)
        return None
    if source.kind == "builtin":
        path = Path(sources.builtin_meta()["path"])
        preds = _builtin_predictions(
            str(path), sources.models_digest(), choice.samples, stamp(path)
        )
        faces = None
    else:
        try:
            faces = sources.load_split(choice.data_folder, choice.split)
        except data.FerPlusError as error:
            no_data_help(choice.data_folder, str(error))
            return None
        preds = _stored(choice) or _computing(choice, methods, faces, labels)
        if preds is None:
            return None
    preds, added, labels = _with_added_rows(preds, labels)
    if faces is not None:
        preds = identities.with_reference(preds, faces)
    if your_votes and (preds := yourvotes.with_your_votes(preds)) is None:
        return None
    preds = priorchoice.with_prior(
        preds, labels, sources.models_dir(), sources.builtin_evaluation_dir()
    )
    ready = [k for k in wanted if k in preds.samples] + added
    if not ready:
        st.info(
            "The chosen methods' rows are still being computed; they appear here as soon "
            "as they are done."
        )
        return None
    return preds, ready, labels


ADDED_PREFIX = "upload:"  # the key of a row uploaded in the sidebar


def is_added(key: str) -> bool:
    """Whether ``key`` is a row of uploaded predictions (not a bundled model's)."""
    return key.startswith(ADDED_PREFIX)


@st.cache_data(show_spinner="Reading your predictions...", max_entries=16)
def _read_added(data: bytes, filename: str, names: tuple[str, ...], allow_partial: bool):
    return external.read_predictions(data, filename, np.asarray(names), allow_partial)


def _with_added_rows(
    preds: store.SplitPredictions, labels: dict[str, str]
) -> tuple[store.SplitPredictions, list[str], dict[str, str]]:
    """``preds`` with the sidebar's uploaded predictions as rows (key ``upload:NAME:HASH``,
    label the file's name); narrowed to the faces every file covers where partial files are
    allowed. A file that cannot be used is named in an error and left out."""
    uploads = st.session_state.get("added_files") or []
    partial = bool(st.session_state.get("allow_partial", False))
    rows, labels = {}, dict(labels)
    for upload in uploads:
        data = upload.getvalue()
        try:
            row = _read_added(data, upload.name, tuple(preds.names.astype(str)), partial)
        except external.PredictionsFileError as error:
            st.error(f"Your predictions were not added: {error}")
            continue
        key = f"{ADDED_PREFIX}{upload.name}:{hashlib.sha256(data).hexdigest()[:8]}"
        rows[key], labels[key] = row, Path(upload.name).stem
    if not rows:
        return preds, [], labels
    try:
        common, aligned = external.shared_faces(rows, len(preds.names))
    except external.PredictionsFileError as error:
        st.error(f"Your predictions were not added: {error}")
        return preds, [], labels
    if len(common) == len(preds.names):
        return preds.with_rows(aligned), list(aligned), labels
    st.info(f"Compared on the {len(common)} of {len(preds.names)} faces every file covers.")
    return preds.with_rows(aligned, common), list(aligned), labels


def _computing(
    choice: Choice, methods: dict, faces: bnnfer.FerPlusSplit, labels: dict
) -> store.SplitPredictions | None:
    """The rows done so far by the shared computation of every method on ``faces``."""
    request = computations.make_request(
        methods, choice.models_folder, faces, list(methods), choice.samples
    )
    computation = computations.shared_computation(methods, faces, request)
    if computation.state == "failed":
        st.error(f"Running the models failed: {computation.error}")
        return None
    if computation.state == "done":
        computations.forget(request)
        return computation.predictions()
    preds = computation.predictions()
    _progress(computation, frozenset(preds.samples), labels)
    return preds


def predictions_key(preds: store.SplitPredictions) -> tuple:
    """What identifies the predictions a page shows (data, split, S, placement, source, rows,
    faces and votes, reference), for the ``st.cache_data`` functions that take them unhashed
    as ``_preds``."""
    chosen = sidebar.settings()
    return (
        chosen["data"],
        preds.split,
        chosen["samples"],
        chosen["placement"],
        preds.source,
        tuple(sorted(preds.samples)),
        _faces(preds),
        preds.reference,
    )


def _faces(preds: store.SplitPredictions) -> str:
    """A digest of the faces and their votes (which the sidebar may join with yours)."""
    digest = hashlib.sha256("\n".join(preds.names.astype(str)).encode())
    return digest.hexdigest()[:16] + hashlib.sha256(preds.votes.tobytes()).hexdigest()[:16]


def rows_scope(preds: store.SplitPredictions) -> tuple:
    """What a single method's samples depend on besides its key (data, split, S, placement,
    the faces and their votes, and whether they are an evaluation file's or the models' outputs
    here), the reference its metrics read and the class prior, for caches of one row at a time:
    a row stays cached while the other rows arrive."""
    chosen = sidebar.settings()
    origin = str(preds.file) if preds.file is not None else "model outputs"
    faces = _faces(preds)
    where = (chosen["data"], preds.split, chosen["samples"], chosen["placement"], origin)
    return (*where, faces, preds.reference, priorchoice.scope())


def no_data_help(folder: str, problem: str) -> None:
    """Why nothing can be shown (``problem`` with ``folder``), and how to point at FER+."""
    st.warning(
        f"No FER+ data could be read from `{folder}`, and no built-in evaluation matches "
        f"these models.\n\n{problem}\n\n"
        "Point the app at your copy in the sidebar, or start it with "
        "`BNNFER_DATA=/path/to/ferplus bnnfer dashboard`. Either layout works:\n"
        "- the FERPlus folders `FER2013Train/`, `FER2013Valid/`, `FER2013Test/`, each with "
        "`label.csv` and the PNGs;\n"
        "- the Kaggle layout: `fer2013.csv` beside FERPlus's `fer2013new.csv`.\n\n"
        "The **Your photo** page works without the data."
    )
