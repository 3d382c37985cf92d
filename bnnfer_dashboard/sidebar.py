"""The shared sidebar (data folder, split, votes, prior, methods, S, placement, uploaded
predictions) and the values the pages read from it.

Session state holds only the widgets' values; every page reads them through `settings`.
"""

from __future__ import annotations

import streamlit as st

import bnnfer
from bnnfer import data
from bnnfer.constants import CROWD_SPLIT, PLACEMENT_LABELS
from bnnfer_dashboard import identities, priorchoice, sources, yourvotes
from bnnfer_dashboard.sources import Source

# label in the sidebar -> the MC rows' placement (bnnfer.models.networks.with_placement)
PLACEMENT_CHOICES = {label: placement for placement, label in PLACEMENT_LABELS.items()}


def models() -> tuple[dict, dict[str, str], str] | None:
    """The bundled methods, or None after showing why they could not be loaded."""
    try:
        return sources.load_models(str(sources.models_dir()), settings()["placement"])
    except (bnnfer.CheckpointError, OSError, ValueError) as error:
        st.error(f"The models could not be loaded from `{sources.models_dir()}`: {error}")
        return None


def _own_faces_caption(folder: str) -> None:
    """The sidebar's lines for a folder of the user's own faces (`bnnfer_dashboard.identities`)."""
    try:
        faces = sources.load_split(folder, CROWD_SPLIT)
    except (data.FerPlusError, OSError):
        return  # the pages say what is wrong with the folder
    identities.own_faces_sidebar(faces, folder)


def default_placement(split: str, source: Source) -> str:
    """Every block where that costs nothing (an evaluation of this split is at hand); else the
    device's `fast_placement`: the head only on a CPU, 20-35x faster than every block at
    nearly the same accuracy and JSD (docs/benchmarks.md), every block on a GPU."""
    evaluated = (
        sources.builtin_meta().get("split") == split
        or (sources.evaluation_dir() / f"predictions-{split}.npz").is_file()
    )
    if source.kind == "builtin" or evaluated:
        return "all"
    return sources.fast_placement()


def settings() -> dict:
    """The sidebar's current values."""
    folder = st.session_state.get("data_dir", str(data.resolve_data_dir(None)))
    split = st.session_state.get("split", "valid")
    label = st.session_state.get(f"placement:{split}")
    return {
        "data": folder,
        "split": split,
        "methods": st.session_state.get("methods"),
        "samples": st.session_state.get("samples", 30),
        "placement": (
            PLACEMENT_CHOICES[label]
            if label
            else default_placement(split, sources.data_source(folder))
        ),
    }


def sidebar() -> None:
    """The shared sidebar: data folder, split, methods, S, placement, and what is shown."""
    with st.sidebar:
        st.header("Settings")
        folder = st.text_input(
            "FER+ data folder",
            value=str(data.resolve_data_dir(None)),
            key="data_dir",
            help="A FERPlus folder (FER2013Train/, FER2013Valid/, FER2013Test/) or a folder "
            "with fer2013.csv and fer2013new.csv. Prefilled from BNNFER_DATA.",
        )
        source = sources.data_source(folder)
        options = source.splits or ["valid"]
        split = st.selectbox(
            "Split",
            options,
            index=options.index("valid") if "valid" in options else 0,
            key="split",
        )
        if source.kind == "builtin":
            st.info(
                f"Showing the **built-in evaluation** of FER+ {split}: the annotators' votes and "
                "the bundled models' outputs, shipped with bnnfer (no face images). "
                f"{source.problem}"
            )
        elif source.kind == "folder" and split == CROWD_SPLIT:
            _own_faces_caption(folder)
        elif source.kind == "folder":
            st.caption(f"Showing FER+ **{split}** read from `{folder}`.")
        yourvotes.sidebar(split)
        priorchoice.sidebar()
        # the default goes in as the widget's index, not through session state: a value set
        # there is dropped when the progress fragment reruns, and the widget fell back to its
        # first option (every block) while the head-only computation ran
        placement_key = f"placement:{split}"
        default = list(PLACEMENT_CHOICES).index(PLACEMENT_LABELS[default_placement(split, source)])
        loaded = models()
        if loaded is None:
            return
        methods, labels, device = loaded
        st.multiselect(
            "Methods",
            list(methods),
            default=list(methods),
            key="methods",
            format_func=lambda k: labels.get(k, k),
        )
        builtin_samples = int(sources.builtin_meta().get("samples", 30))
        st.slider(
            "MC samples S",
            5,
            builtin_samples if source.kind == "builtin" else 100,
            min(30, builtin_samples) if source.kind == "builtin" else 30,
            step=5,
            key="samples",
            help="Samples drawn by MC-Dropout and MC-DropConnect (ensembles give one per "
            "member, the classical network one).",
        )
        st.selectbox(
            "MC layers sampled",
            list(PLACEMENT_CHOICES),
            index=default,
            key=placement_key,
            disabled=source.kind == "builtin",
            help="Which of the MC rows' stochastic layers are sampled; the others stay at their "
            "mean, and the layers before the first sampled one run once per face.",
        )
        st.file_uploader(
            "Your model's predictions (CSV or NPZ)", type=["csv", "npz"],
            accept_multiple_files=True, key="added_files",
            help="A row of predictions made elsewhere for this split's faces, scored like the "
            "bundled rows on every page: a CSV with a name column and one column per FER+ "
            "emotion (or logit_ columns), or an NPZ with names and probs (N, 8) or samples "
            "(S, N, 8). The formats: docs/data.md.",
        )  # fmt: skip  # options beside their values
        st.checkbox(
            "Compare on the faces every file covers", key="allow_partial",
            help="A file that misses some of the split's faces is refused unless this is on.",
        )  # fmt: skip  # options beside their values
        if source.kind == "folder" and sources.fast_placement() == "head":
            st.caption(
                "On a CPU, uncached splits start with the head only sampled: 20-35x faster "
                "than every block, at nearly the same accuracy and JSD (docs/benchmarks.md). "
                "Every block is one click away."
            )
        st.caption(f"Device: {device}")
