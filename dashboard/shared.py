"""What every dashboard page shares: the sidebar, the cached models, and the predictions to show.

Where the predictions come from, cheapest first:

1. a FER+ folder is readable: ``bnnfer evaluate``'s file, the shipped evaluation or bnnfer's
   cache when one matches the split, else a `bnnfer.inference.computations.Computation` shared by
   every session of this process, whose rows are shown as they finish (a progress bar per pending
   row, refreshed each second by a fragment that also tells the computation someone waits);
2. no FER+ folder: the evaluation shipped in ``assets/evaluation`` (votes and samples of FER+
   Valid, no images), shown with a placeholder where each face would be.

Models are loaded once per process (`st.cache_resource`) and never changed by a page; splits
and predictions are cached with `st.cache_data`. Session state holds only the widgets' values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

import bnnfer
from bnnfer import data
from bnnfer import settings as environment
from bnnfer.constants import CROWD_SPLIT, PLACEMENT_LABELS
from bnnfer.evaluation import external, sweep
from bnnfer.evaluation import predictions as evaluate
from bnnfer.inference import computations, store
from bnnfer.training import bundle
from dashboard import identities, priorchoice, yourvotes

# label in the sidebar -> the MC rows' placement (bnnfer.models.networks.with_placement)
PLACEMENT_CHOICES = {label: placement for placement, label in PLACEMENT_LABELS.items()}
NO_FACES_NOTE = (
    "Faces are drawn as placeholders: the built-in evaluation holds votes and model outputs, "
    "no pixels. To see the faces, point the sidebar's data folder at a FER+ copy "
    "(`fer2013.csv` + `fer2013new.csv`, or the FERPlus `FER2013*/` folders)."
)


@st.cache_data(max_entries=4)
def _read_sweep(path: str, mtime: float) -> dict | None:
    return sweep.read_sweep(path)


def rate_sweep() -> dict | None:
    """The rate sweep's figures shipped beside the built-in evaluation (``bnnfer sweep``'s
    ``rate-sweep.json``), or None where there are none."""
    path = builtin_evaluation_dir() / "rate-sweep.json"
    return _read_sweep(str(path), _stamp(path))


def privacy_note(what: str) -> None:
    """One line saying where an upload of ``what`` (photos, a video) goes, and the model card's
    intended use beneath it, read from the bundle's README (the shipped one if it has none)."""
    st.caption(
        f"Your {what}: kept in memory on the machine running this dashboard while analysed; "
        "not written to disk, not sent anywhere, gone when you leave."
    )
    with st.expander("Intended use: research and teaching, not decisions about people"):
        st.markdown(intended_use())


def intended_use() -> str:
    """The model card's "Intended use" section (markdown, without its heading)."""
    for card in (models_dir() / "README.md", bundle.DEFAULT_BUNDLE_DIR / "README.md"):
        if card.is_file():
            section = card.read_text(encoding="utf-8").split("\n## Intended use", 1)
            if len(section) == 2:
                body = section[1].split("\n", 1)[1]
                return body.split("\n## ", 1)[0].strip() + f"\n\n(From `{card}`.)"
    return "Research and teaching only; not for decisions about people."


ENTRY_FLAG = "_bnnfer_entry_point"  # session state: app.py has run in this session


def pages() -> list:
    """The dashboard's pages, in the navigation's order (``st.Page`` objects; their paths are
    relative to app.py, the main script)."""
    return [
        st.Page("pages/overview.py", title="Overview", icon=":material/leaderboard:", default=True),
        st.Page("pages/explore.py", title="Explore faces", icon=":material/face:"),
        st.Page("pages/calibration.py", title="Calibration", icon=":material/straighten:"),
        st.Page("pages/uncertainty.py", title="Uncertainty", icon=":material/blur_on:"),
        st.Page("pages/annotators.py", title="Annotators", icon=":material/groups:"),
        st.Page("pages/photo.py", title="Your photo", icon=":material/photo_camera:"),
        st.Page("pages/video.py", title="Your video", icon=":material/videocam:"),
        st.Page("pages/annotate.py", title="Annotate", icon=":material/how_to_vote:"),
    ]


def entered() -> None:
    """Called by app.py on every run, before it runs a page."""
    st.session_state[ENTRY_FLAG] = True


def through_the_entry_point() -> None:
    """Make sure this page runs inside app.py (its layout, sidebar and navigation).

    Until a process has seen ``st.navigation`` once, Streamlit treats a ``pages/`` folder as a
    multipage app of its own: when a fresh server's first request names a page (a bookmark of
    ``/photo``), that page file runs alone, with file names for navigation and no sidebar, for
    every session until someone opens ``/``. Calling ``st.navigation`` here tells Streamlit that
    the app navigates itself (with app.py's pages, so that the page asked for is found), and
    the rerun goes through app.py to that page."""
    if st.session_state.get(ENTRY_FLAG):
        return
    st.navigation(pages(), position="hidden")
    st.rerun()


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


def models() -> tuple[dict, dict[str, str], str] | None:
    """The bundled methods, or None after showing why they could not be loaded."""
    try:
        return load_models(str(models_dir()), settings()["placement"])
    except (bnnfer.CheckpointError, OSError, ValueError) as error:
        st.error(f"The models could not be loaded from `{models_dir()}`: {error}")
        return None


@st.cache_data(max_entries=4)
def _digest(folder: str, mtime: float) -> str:
    return evaluate.models_digest(folder)


def models_digest() -> str:
    """The bundled models' manifest digest (what an evaluation is matched against)."""
    manifest = models_dir() / "manifest.json"
    mtime = manifest.stat().st_mtime if manifest.is_file() else 0.0
    return _digest(str(models_dir()), mtime)


# -- where the data comes from --------------------------------------------------------------


def _stamp(path: Path) -> float:
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
    document = _read_json(str(folder / "metrics.json"), _stamp(folder / "metrics.json"))
    if not document or document.get("models_digest") != models_digest():
        return {}
    path = folder / f"predictions-{document['split']}.npz"
    meta = _evaluation_meta(str(path), _stamp(path))
    return {**meta, "path": str(path)} if meta.get("models_digest") == models_digest() else {}


class Source(NamedTuple):
    """What the pages show: ``kind`` is ``"folder"`` (a readable FER+ copy), ``"builtin"``
    (the shipped evaluation) or ``"none"``; ``splits`` those on offer; ``problem`` why the
    folder could not be read."""

    kind: str
    splits: list[str]
    problem: str


def data_source(folder: str) -> Source:
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


def _own_faces_caption(folder: str) -> None:
    """The sidebar's lines for a folder of the user's own faces (`dashboard.identities`)."""
    try:
        faces = load_split(folder, CROWD_SPLIT)
    except (data.FerPlusError, OSError):
        return  # the pages say what is wrong with the folder
    identities.own_faces_sidebar(faces, folder)


@st.cache_data(show_spinner="Reading FER+...", max_entries=4)
def load_split(folder: str, split: str) -> bnnfer.FerPlusSplit:
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
    return _read_json(str(path), _stamp(path))


# -- the sidebar ----------------------------------------------------------------------------


def default_placement(split: str, source: Source) -> str:
    """Every block where that costs nothing (an evaluation of this split is at hand); else the
    device's `fast_placement`: the head only on a CPU, 20-35x faster than every block at
    nearly the same accuracy and JSD (docs/benchmarks.md), every block on a GPU."""
    evaluated = (
        builtin_meta().get("split") == split
        or (evaluation_dir() / f"predictions-{split}.npz").is_file()
    )
    if source.kind == "builtin" or evaluated:
        return "all"
    return fast_placement()


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
            PLACEMENT_CHOICES[label] if label else default_placement(split, data_source(folder))
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
        source = data_source(folder)
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
        builtin_samples = int(builtin_meta().get("samples", 30))
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
        if source.kind == "folder" and fast_placement() == "head":
            st.caption(
                "On a CPU, uncached splits start with the head only sampled: 20-35x faster "
                "than every block, at nearly the same accuracy and JSD (docs/benchmarks.md). "
                "Every block is one click away."
            )
        st.caption(f"Device: {device}")


# -- the predictions a page shows -----------------------------------------------------------


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
    methods, _, _ = load_models(choice.models_folder, choice.placement)
    faces = load_split(choice.data_folder, choice.split)
    return store.find_predictions(
        methods,
        choice.models_folder,
        faces,
        samples=choice.samples,
        evaluation_file=list(files),
    )


def _stored(choice: Choice) -> store.SplitPredictions | None:
    """Predictions from an evaluation file or bnnfer's cache; None when none fits. Files
    written while the app runs are picked up at the next run (their times key the cache)."""
    files = [evaluation_dir() / f"predictions-{choice.split}.npz"]
    builtin = builtin_meta()
    if builtin.get("split") == choice.split:
        files.append(Path(builtin["path"]))
    methods, _, _ = load_models(choice.models_folder, choice.placement)
    cache = store.cache_path(
        data.default_cache_dir(),
        models_digest(),
        choice.split,
        bnnfer.models.methods.placements(methods),
    )
    stamps = tuple(_stamp(p) for p in [*files, cache])
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
    chosen = settings()
    return Choice(
        str(models_dir()),
        chosen["data"],
        chosen["split"],
        int(chosen["samples"]),
        chosen["placement"],
    )


def require_predictions(
    your_votes: bool = True,
) -> tuple[store.SplitPredictions, list[str], dict[str, str]] | None:
    """The predictions the sidebar asks for and the chosen methods among those ready, with the
    votes it chose (`dashboard.yourvotes`; FER+'s own with ``your_votes`` False); on missing
    data or models, a message and None."""
    loaded = models()
    if loaded is None:
        return None
    methods, labels, _ = loaded
    chosen = settings()
    wanted = [k for k in (chosen["methods"] or list(methods)) if k in methods]
    if not wanted:
        st.info("Choose at least one method in the sidebar.")
        return None
    choice = current_choice()
    source = data_source(choice.data_folder)
    if source.kind == "none":
        no_data_help(choice.data_folder, source.problem)
        return None
    if source.kind == "builtin":
        path = Path(builtin_meta()["path"])
        preds = _builtin_predictions(str(path), models_digest(), choice.samples, _stamp(path))
        faces = None
    else:
        try:
            faces = load_split(choice.data_folder, choice.split)
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
    preds = priorchoice.with_prior(preds, labels, models_dir(), builtin_evaluation_dir())
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
    chosen = settings()
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
    chosen = settings()
    origin = str(preds.file) if preds.file is not None else "model outputs"
    faces = _faces(preds)
    where = (chosen["data"], preds.split, chosen["samples"], chosen["placement"], origin)
    return (*where, faces, preds.reference, priorchoice.scope())


def no_data_help(folder: str, problem: str) -> None:
    st.warning(
        f"No FER+ data could be read from `{folder}`, and no built-in evaluation matches "
        f"these models.\n\n{problem}\n\n"
        "Point the app at your copy in the sidebar, or start it with "
        "`BNNFER_DATA=/path/to/ferplus streamlit run app.py`. Either layout works:\n"
        "- the FERPlus folders `FER2013Train/`, `FER2013Valid/`, `FER2013Test/`, each with "
        "`label.csv` and the PNGs;\n"
        "- the Kaggle layout: `fer2013.csv` beside FERPlus's `fer2013new.csv`.\n\n"
        "The **Your photo** page works without the data."
    )


@st.cache_resource
def _placeholder(size: int) -> Image.Image:
    """A neutral grey tile with a faint face outline, where a face's pixels are not at hand."""
    image = Image.new("L", (size, size), 214)
    draw = ImageDraw.Draw(image)
    margin = size // 6
    draw.ellipse((margin, margin // 2, size - margin, size - margin // 2), outline=170, width=2)
    return image


def face_image(preds: store.SplitPredictions, index: int, scale: int = 3) -> Image.Image:
    """Face ``index`` shown at ``48 * scale`` px, or a placeholder where no images are held."""
    if preds.images is None:
        return _placeholder(bnnfer.IMAGE_SIZE * scale)
    return enlarge(preds.images[index], scale)


def numbered_boxes(image: Image.Image, boxes: Mapping[int, Sequence[float]]) -> Image.Image:
    """A copy of ``image`` with each box ``{number: (x0, y0, x1, y1)}`` drawn in red and its
    number above it (the photo page's faces, the video page's tracks)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    width = max(2, image.width // 200)
    for number, box in boxes.items():
        draw.rectangle(tuple(box), outline=(255, 64, 64), width=width)
        x0, y0 = box[0], max(0, box[1] - 12 * width)
        draw.text((x0 + width, y0), str(number), fill=(255, 64, 64), font_size=max(12, 10 * width))
    return image


def enlarge(face: np.ndarray, scale: int = 3) -> Image.Image:
    """A 48x48 face shown at ``48 * scale`` px, pixels kept square and sharp."""
    image = Image.fromarray(face)
    return image.resize((face.shape[1] * scale, face.shape[0] * scale), Image.Resampling.NEAREST)
