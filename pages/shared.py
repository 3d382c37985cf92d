"""What every dashboard page shares: the sidebar settings, cached models, data and predictions.

Models are loaded once per process (`st.cache_resource`) and never changed by a page; the split
and the predictions are cached with `st.cache_data`, and predictions also on disk by
`bnnfer.store`, so a second launch serves them in seconds. Session state holds only the
sidebar's widget values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

import bnnfer
from bnnfer import bundle, data, evaluate, store
from bnnfer.constants import METHOD_COLORS


def evaluation_dir() -> Path:
    """``$BNNFER_EVALUATION``, else ``bnnfer-evaluation`` (where ``bnnfer evaluate`` writes)."""
    return Path(os.environ.get("BNNFER_EVALUATION", "bnnfer-evaluation"))


def models_dir() -> Path:
    """``$BNNFER_MODELS``, else the bundled ``assets/models``."""
    return Path(os.environ.get("BNNFER_MODELS", bundle.DEFAULT_BUNDLE_DIR))


# sidebar label -> the MC rows' placement (bnnfer.networks.with_placement)
PLACEMENT_CHOICES = {
    "every block": "all",
    "last block + head": "last",
    "head only": "head",
}


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


def models() -> tuple[dict, dict[str, str], str] | None:
    """The bundled methods, or None after showing why they could not be loaded."""
    try:
        return load_models(str(models_dir()), settings()["placement"])
    except (bnnfer.CheckpointError, OSError, ValueError) as error:
        st.error(f"The models could not be loaded from `{models_dir()}`: {error}")
        return None


def color(key: str) -> str:
    return METHOD_COLORS.get(key, "#7f7f7f")


@st.cache_data(show_spinner="Reading FER+...", max_entries=4)
def load_split(folder: str, split: str) -> bnnfer.FerPlusSplit:
    return bnnfer.load_ferplus(folder, splits=[split])[split]


@st.cache_data(max_entries=4)
def _read_json(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def evaluation_metrics() -> dict:
    """``bnnfer evaluate``'s metrics.json ({} when absent or unreadable); re-read when it
    changes on disk."""
    path = evaluation_dir() / "metrics.json"
    try:
        return _read_json(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return {}


@st.cache_data(max_entries=4)
def _digest(folder: str, mtime: float) -> str:
    return evaluate.models_digest(folder)


def models_digest() -> str:
    """The bundled models' manifest digest (what an evaluation is matched against)."""
    manifest = models_dir() / "manifest.json"
    mtime = manifest.stat().st_mtime if manifest.is_file() else 0.0
    return _digest(str(models_dir()), mtime)


def _evaluation_file(split: str) -> Path | None:
    path = evaluation_dir() / f"predictions-{split}.npz"
    return path if path.is_file() else None


class Request(NamedTuple):
    """Which predictions the sidebar asks for: a tuple, so it keys Streamlit's caches."""

    models_folder: str
    data_folder: str
    split: str
    samples: int
    keys: tuple[str, ...]
    placement: str


def _predictions(request: Request) -> store.SplitPredictions | None:
    """Predictions from the evaluate file or bnnfer's disk cache; None when neither fits. An
    evaluate file written (or rewritten) while the app runs is picked up at the next run."""
    path = _evaluation_file(request.split)
    stamp = path.stat().st_mtime if path is not None else 0.0
    return _cached_predictions(request, str(path) if path else None, stamp)


@st.cache_data(show_spinner="Reading cached predictions...", max_entries=8)
def _cached_predictions(
    request: Request, evaluation_file: str | None, evaluation_mtime: float
) -> store.SplitPredictions | None:
    methods, _, _ = load_models(request.models_folder, request.placement)
    faces = load_split(request.data_folder, request.split)
    return store.find_predictions(
        methods, request.models_folder, faces, samples=request.samples, keys=list(request.keys),
        evaluation_file=evaluation_file,
    )  # fmt: skip


def _compute_predictions(request: Request) -> None:
    """Run the models with a progress bar; the result lands in bnnfer's disk cache."""
    methods, _, _ = load_models(request.models_folder, request.placement)
    faces = load_split(request.data_folder, request.split)
    bar = st.progress(0.0, text=f"Running the models on {len(faces)} faces...")
    store.get_predictions(
        methods, request.models_folder, faces, samples=request.samples, keys=list(request.keys),
        evaluation_file=_evaluation_file(request.split),
        progress=lambda fraction, text: bar.progress(min(1.0, fraction), text=text),
    )  # fmt: skip
    bar.empty()


def settings() -> dict:
    """The sidebar's current values."""
    return {
        "data": st.session_state.get("data_dir", str(data.resolve_data_dir(None))),
        "split": st.session_state.get("split", "valid"),
        "methods": st.session_state.get("methods"),
        "samples": st.session_state.get("samples", 30),
        "placement": PLACEMENT_CHOICES[st.session_state.get("placement", "every block")],
    }


def predictions_key(preds: store.SplitPredictions) -> tuple:
    """What identifies the predictions a page shows (data folder, split, S, placement), for the
    ``st.cache_data`` functions that take them unhashed as ``_preds``."""
    chosen = settings()
    return (chosen["data"], preds.split, chosen["samples"], chosen["placement"])


def sidebar() -> None:
    """The shared sidebar: data folder, split, methods, S, and the device in use."""
    loaded = models()
    with st.sidebar:
        st.header("Settings")
        st.text_input(
            "FER+ data folder",
            value=str(data.resolve_data_dir(None)),
            key="data_dir",
            help="A FERPlus folder (FER2013Train/, FER2013Valid/, FER2013Test/) or a folder "
            "with fer2013.csv and fer2013new.csv. Prefilled from BNNFER_DATA.",
        )
        try:
            splits = data.available_splits(st.session_state["data_dir"])
        except data.FerPlusError:
            splits = []
        options = splits or ["valid"]
        st.selectbox(
            "Split", options, index=options.index("valid") if "valid" in options else 0,
            key="split",
        )  # fmt: skip
        if loaded is not None:
            methods, labels, device = loaded
            st.multiselect(
                "Methods", list(methods), default=list(methods), key="methods",
                format_func=lambda k: labels.get(k, k),
            )  # fmt: skip
            st.slider(
                "MC samples S",
                5,
                100,
                30,
                step=5,
                key="samples",
                help="Samples drawn by MC-Dropout and MC-DropConnect (ensembles give one "
                "per member, the classical network one).",
            )
            st.selectbox(
                "MC layers sampled",
                list(PLACEMENT_CHOICES),
                key="placement",
                help="Which of the MC rows' stochastic layers are sampled; the others stay at "
                "their mean, and the layers before the first sampled one run once per face. "
                "On Valid, sampling the head only is about 25x faster than every block with "
                "nearly the same accuracy and JSD, and a slightly lower AUROC (README, Speed).",
            )
            st.caption(f"Device: {device}")


def require_predictions() -> tuple[store.SplitPredictions, list[str], dict[str, str]] | None:
    """The predictions the sidebar asks for; on missing data or models, a message and None."""
    loaded = models()
    if loaded is None:
        return None
    methods, labels, _ = loaded
    chosen = settings()
    keys = [k for k in (chosen["methods"] or list(methods)) if k in methods]
    if not keys:
        st.info("Choose at least one method in the sidebar.")
        return None
    try:
        load_split(chosen["data"], chosen["split"])
    except data.FerPlusError as error:
        no_data_help(chosen["data"], error)
        return None
    request = Request(
        str(models_dir()), chosen["data"], chosen["split"], int(chosen["samples"]), tuple(keys),
        chosen["placement"],
    )  # fmt: skip
    preds = _predictions(request)
    if preds is None:  # not on disk yet: compute once with a progress bar, then read the cache
        _compute_predictions(request)
        _cached_predictions.clear()
        preds = _predictions(request)
    return preds, keys, labels


def no_data_help(folder: str, error: Exception) -> None:
    st.warning(
        f"No FER+ data could be read from `{folder}`.\n\n{error}\n\n"
        "Point the app at your copy in the sidebar, or start it with "
        "`BNNFER_DATA=/path/to/ferplus streamlit run app.py`. Either layout works:\n"
        "- the FERPlus folders `FER2013Train/`, `FER2013Valid/`, `FER2013Test/`, each with "
        "`label.csv` and the PNGs;\n"
        "- the Kaggle layout: `fer2013.csv` beside FERPlus's `fer2013new.csv`.\n\n"
        "The **Your photo** page works without the data."
    )


def enlarge(face: np.ndarray, scale: int = 3) -> Image.Image:
    """A 48x48 face shown at ``48 * scale`` px, pixels kept square and sharp."""
    image = Image.fromarray(face)
    return image.resize((face.shape[1] * scale, face.shape[0] * scale), Image.Resampling.NEAREST)
