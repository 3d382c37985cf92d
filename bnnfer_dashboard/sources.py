"""Where the dashboard's models and evaluations come from: the bundle (loaded once per
process with `st.cache_resource`, never changed by a page), its digest, the FER+ folder or the
built-in evaluation, and the files an evaluation left beside its predictions (cached with
`st.cache_data`, keyed by their modification times so that a file rewritten while the app runs
is read again).

The folders are `bnnfer.settings`'s: nothing here reads a ``BNNFER_*`` variable itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import streamlit as st

import bnnfer
from bnnfer import data
from bnnfer import settings as environment
from bnnfer.evaluation import predictions as evaluate
from bnnfer.evaluation import sweep
from bnnfer.inference import store
from bnnfer.training import bundle


def evaluation_dir() -> Path:
    """`bnnfer.settings.evaluation_dir`: where ``bnnfer evaluate`` wrote."""
    return environment.evaluation_dir()


def builtin_evaluation_dir() -> Path:
    """`bnnfer.settings.builtin_evaluation_dir`: the shipped evaluation, unless overridden."""
    return environment.builtin_evaluation_dir()


def models_dir() -> Path:
    """`bnnfer.settings.models_dir`: the bundled models, unless overridden."""
    return environment.models_dir()


# -- models and device ----------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the models...")
def load_models(folder: str, placement: str = "all") -> tuple[dict, dict[str, str], str]:
    """``(methods by key, labels by key, device description)``, loaded once per process and
    placement of the MC rows' stochastic layers."""
    bnnfer.keep_freed_memory()  # the dashboard owns its process: see bnnfer.allocator
    device = bnnfer.select_device("auto")
    methods = bundle.load_bundle(folder, device=device, placement=placement)
    labels = {row.key: row.label for row in bundle.read_registry(folder)}
    precision = bnnfer.resolve_precision("auto", device)
    return methods, labels, f"{bnnfer.describe_device(device)}, {precision}"


@st.cache_resource
def fast_placement() -> str:
    """The placement that keeps many faces quick on the models' device (`fast_placement`)."""
    return bnnfer.inference.mc.fast_placement(bnnfer.select_device("auto"))


@st.cache_data(max_entries=4)
def _digest(folder: str, mtime: float) -> str:
    return evaluate.models_digest(folder)


def models_digest() -> str:
    """The bundled models' manifest digest (what an evaluation is matched against)."""
    manifest = models_dir() / "manifest.json"
    mtime = manifest.stat().st_mtime if manifest.is_file() else 0.0
    return _digest(str(models_dir()), mtime)


# -- where the data comes from --------------------------------------------------------------


def stamp(path: Path) -> float:
    """``path``'s modification time, 0 where it is absent (a cache key that changes with it)."""
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_data(max_entries=8)
def _evaluation_meta(path: str, mtime: float) -> dict:
    try:
        return evaluate.read_meta(path)
    except store.UNREADABLE:
        return {}


def builtin_meta() -> dict:
    """The shipped evaluation's meta (split, S, placements) when it was made with these
    models, else {}."""
    folder = builtin_evaluation_dir()
    document = _read_json(str(folder / "metrics.json"), stamp(folder / "metrics.json"))
    if not document or document.get("models_digest") != models_digest():
        return {}
    path = folder / f"predictions-{document['split']}.npz"
    meta = _evaluation_meta(str(path), stamp(path))
    return {**meta, "path": str(path)} if meta.get("models_digest") == models_digest() else {}


class Source(NamedTuple):
    """What the pages show: ``kind`` is ``"folder"`` (a readable FER+ copy), ``"builtin"``
    (the shipped evaluation) or ``"none"``; ``splits`` those on offer; ``problem`` why the
    folder could not be read."""

    kind: str
    splits: list[str]
    problem: str


def data_source(folder: str) -> Source:
    """What the pages can show for the data folder ``folder``: its splits, else the built-in
    evaluation where it matches these models, else nothing (with the folder's problem)."""
    try:
        splits = data.available_splits(folder)
    except data.FerPlusError as error:
        splits, problem = [], str(error)
    else:
        problem = "" if splits else f"{folder}: no split with a label.csv"
    if splits:
        return Source("folder", splits, "")
    builtin = builtin_meta()
    if builtin:
        return Source("builtin", [builtin["split"]], problem)
    return Source("none", [], problem)


@st.cache_data(show_spinner="Reading FER+...", max_entries=4)
def load_split(folder: str, split: str) -> bnnfer.FerPlusSplit:
    """``split`` of the FER+ folder ``folder``, decoded once per folder and split."""
    return bnnfer.load_ferplus(folder, splits=[split])[split]


@st.cache_data(max_entries=4)
def _read_json(path: str, mtime: float) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def evaluation_metrics(preds: store.SplitPredictions) -> dict:
    """The ``metrics.json`` beside the evaluation file ``preds`` were read from; {} when they
    were not read from one, or it is absent or unreadable."""
    if preds.file is None:
        return {}
    path = Path(preds.file).parent / "metrics.json"
    return _read_json(str(path), stamp(path))


@st.cache_data(max_entries=4)
def _read_sweep(path: str, mtime: float) -> dict | None:
    return sweep.read_sweep(path)


def rate_sweep() -> dict | None:
    """The rate sweep's figures shipped beside the built-in evaluation (``bnnfer sweep``'s
    ``rate-sweep.json``), or None where there are none."""
    path = builtin_evaluation_dir() / "rate-sweep.json"
    return _read_sweep(str(path), stamp(path))
