"""Predictions of the bundled methods on a FER+ split, served from the cheapest source that fits.

The dashboard needs, for every face of a split, every method's MC samples ``(S, N, C)``.
`get_predictions` looks, in order, for:

1. the file ``bnnfer evaluate`` wrote (``predictions-<split>.npz``), if it was made from the same
   bundle (manifest digest), the same split and faces, with the MC rows sampled in the same
   placement (`bnnfer.models.methods.placements`), and holds at least S samples;
2. bnnfer's own prediction cache (``<cache>/predictions-<digest>-<split>[-<placement>].npz``,
   a file per placement), same checks;
3. fresh inference, which it then writes to that cache (keeping the larger S).

A smaller S than a file holds is served by its first S samples, so moving the S slider down costs
nothing; moving it up past what is cached computes once and caches the larger set. The cache
holds probabilities only, never pixels.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomic
from ..constants import NUM_CLASSES
from ..data.cache import default_cache_dir
from ..data.split import FerPlusSplit
from ..data.votes import human_statistics
from ..evaluation.predictions import models_digest, read_predictions
from ..models.methods import Method, placements
from .mc import mc_predict

Progress = Callable[[float, str], None]
# an evaluate file, several tried in order, or none
EvaluationFiles = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


@dataclass
class SplitPredictions:
    """Faces of one split with every method's samples.

    Attributes:
        split: the split name; names ``(N,)``; votes ``(N, 10)``.
        images: uint8 ``(N, 48, 48)``, or None where only the votes are at hand (the shipped
            evaluation read without the FER+ images).
        samples: ``{method key: float32 (S, N, C)}``.
        source: where the samples came from (``evaluate file``, ``cache``, ``computed``).
        file: the evaluation's predictions file they were read from (its ``metrics.json`` lies
            beside it), else None.
        reference: what the metrics against people read (`bnnfer.evaluation.annotators.REFERENCES`):
            ``"votes"``, or ``"dawid-skene"`` with its ``(N, 8)`` distribution in
            ``reference_distribution``, which ``human["distribution"]`` then is.
    """

    split: str
    names: np.ndarray
    images: np.ndarray | None
    votes: np.ndarray
    samples: dict[str, np.ndarray]
    source: str
    file: Path | None = None
    reference: str = "votes"
    reference_distribution: np.ndarray | None = None

    @property
    def human(self) -> dict[str, np.ndarray]:
        statistics = human_statistics(self.votes)
        if self.reference_distribution is not None:
            statistics["distribution"] = self.reference_distribution
        return statistics

    def with_reference(self, name: str, distribution: np.ndarray) -> SplitPredictions:
        """These predictions with the metrics against people read against ``distribution``
        ``(N, 8)``, named ``name`` (`bnnfer.evaluation.annotators.reference_distribution`)."""
        if np.shape(distribution) != (len(self.names), NUM_CLASSES):
            raise ValueError(f"distribution must be (N={len(self.names)}, 8)")
        return replace(self, reference=name, reference_distribution=distribution)

    def mean(self, key: str) -> np.ndarray:
        """``(N, C)`` predictive distribution of a method, rows renormalised in float64."""
        probs = self.samples[key].astype(np.float64).mean(axis=0)
        return probs / probs.sum(axis=1, keepdims=True)

    def with_rows(
        self, rows: Mapping[str, np.ndarray], index: np.ndarray | None = None
    ) -> SplitPredictions:
        """These predictions with ``rows`` (``{key: (S, M, C)}``) added; with ``index`` (the
        ``M`` faces the rows cover, positions in this split) narrowed to those faces first,
        which no evaluation file describes any more (``file`` None)."""
        if index is None:
            return replace(self, samples={**self.samples, **rows})
        return replace(
            self,
            names=self.names[index],
            images=None if self.images is None else self.images[index],
            votes=self.votes[index],
            samples={**{k: v[:, index] for k, v in self.samples.items()}, **rows},
            file=None,
            reference_distribution=(
                None if self.reference_distribution is None else self.reference_distribution[index]
            ),
        )

    def samples64(self, key: str) -> np.ndarray:
        array = self.samples[key].astype(np.float64)
        return array / array.sum(axis=2, keepdims=True)


# what reading a cut-short or otherwise damaged predictions file raises (np.load of a truncated
# zip raises BadZipFile, which is neither an OSError nor a ValueError)
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def evaluation_predictions(
    path: str | os.PathLike[str], digest: str, samples: int, keys: Sequence[str] | None = None
) -> SplitPredictions:
    """The predictions held by an evaluation file alone (``bnnfer evaluate``'s, or the shipped
    one), without the split's images: names, votes and each row's samples, the MC rows cut to
    ``samples``. Raises `ValueError` naming the file when it was written for other models
    (``digest``), lacks a requested row, or is unreadable."""
    try:
        meta, arrays = read_predictions(path)
    except UNREADABLE as error:
        raise ValueError(f"{path}: not a readable predictions file ({error})") from None
    if meta.get("models_digest") != digest:
        raise ValueError(f"{path}: written for other models than these (manifest digest differs)")
    stored = {n.removesuffix(".samples"): a for n, a in arrays.items() if n.endswith(".samples")}
    sampled = set(meta.get("placements", {}))
    wanted = list(keys if keys is not None else stored)
    missing = [k for k in wanted if k not in stored]
    if missing:
        raise ValueError(f"{path}: no samples for {missing}; it holds {sorted(stored)}")
    found = {
        key: (stored[key][:samples] if key in sampled else stored[key]).astype(np.float32)
        for key in wanted
    }
    return SplitPredictions(
        str(meta["split"]),
        arrays["names"],
        None,
        arrays["votes"].astype(np.int64),
        found,
        "evaluate file",
        Path(path),
    )


def _matching_samples(
    path: Path, digest: str, split: FerPlusSplit, wanted: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """``({method key: samples}, {MC key: placement})`` of a predictions file written for these
    models (``digest``) and exactly these faces of ``split``, leaving out the MC keys sampled
    with another placement than ``wanted`` gives (files that record none sampled "all"); None
    when the file is absent, unreadable or of other models or faces."""
    if not path.is_file():
        return None
    try:
        meta, arrays = read_predictions(path)
    except UNREADABLE:
        return None
    if meta.get("models_digest") != digest or meta.get("split") != split.split:
        return None
    # files that record the faces' digest (names and pixels) must match it; older ones, the
    # shipped FER+ evaluation among them, are matched by the names below
    if meta.get("faces_digest", split.faces_digest) != split.faces_digest:
        return None
    if arrays["names"].shape != split.names.shape or not np.array_equal(
        arrays["names"], split.names.astype(str)
    ):
        return None
    recorded = meta.get("placements", {})
    samples, kept = {}, {}
    for name, array in arrays.items():
        key = name.removesuffix(".samples")
        if key == name:
            continue
        placement = recorded.get(key, "all")
        if key in wanted and wanted[key] != placement:
            continue
        samples[key] = array
        if key in recorded or key in wanted:
            kept[key] = placement
    return samples, kept


def _usable(
    path: Path,
    digest: str,
    split: FerPlusSplit,
    keys: Sequence[str],
    methods: Mapping[str, Method],
    wanted: Mapping[str, str],
    samples: int,
) -> dict[str, np.ndarray] | None:
    """The samples of ``keys`` in ``path`` cut to S, or None when the file does not fit
    (``wanted``: the MC rows' placements, `bnnfer.models.methods.placements` of ``methods``)."""
    matching = _matching_samples(path, digest, split, wanted)
    if matching is None:
        return None
    stored, found = matching[0], {}
    for key in keys:
        array = stored.get(key)
        if array is None:
            return None
        if methods[key].sampled:
            if array.shape[0] < samples:
                return None
            array = array[:samples]
        found[key] = array.astype(np.float32)
    return found


def cache_path(cache_dir: Path, digest: str, split: str, placed: Mapping[str, str]) -> Path:
    """The cache file for these models and split; MC rows sampled with narrower placements
    (``placed``, by key) get a file of their own, so switching back and forth keeps both."""
    narrowed = sorted(set(placed.values()) - {"all"})
    tag = "".join(f"-{placement}" for placement in narrowed)
    return cache_dir / f"predictions-{digest[:16]}-{split}{tag}.npz"


def _check(methods: Mapping[str, Method], keys: Sequence[str] | None, samples: int) -> list[str]:
    keys = list(keys if keys is not None else methods)
    unknown = [k for k in keys if k not in methods]
    if unknown:
        raise ValueError(f"unknown method key(s) {unknown}; loaded: {list(methods)}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    return keys


def _locations(
    wanted: Mapping[str, str],
    models_folder: str | os.PathLike[str],
    split: FerPlusSplit,
    evaluation_file: EvaluationFiles,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[str, Path, list[tuple[Path, str]]]:
    """``(models digest, cache file, [(file, source name), ...] in the order to try)``."""
    digest = models_digest(models_folder)
    cache_folder = Path(cache_dir or default_cache_dir())
    cache = cache_path(cache_folder, digest, split.split, wanted)
    if evaluation_file is None:
        files = []
    elif isinstance(evaluation_file, str | os.PathLike):
        files = [Path(evaluation_file)]
    else:
        files = [Path(f) for f in evaluation_file]
    sources = [(f, "evaluate file") for f in files]
    return digest, cache, [*sources, (cache, "cache")]


def _first_usable(
    digest: str,
    sources: list[tuple[Path, str]],
    split: FerPlusSplit,
    keys: Sequence[str],
    methods: Mapping[str, Method],
    wanted: Mapping[str, str],
    samples: int,
) -> SplitPredictions | None:
    for path, source in sources:
        found = _usable(path, digest, split, keys, methods, wanted, samples)
        if found is not None:
            file = path if source == "evaluate file" else None
            return SplitPredictions(
                split.split, split.names, split.images, split.votes, found, source, file
            )
    return None


def find_predictions(
    methods: Mapping[str, Method],
    models_folder: str | os.PathLike[str],
    split: FerPlusSplit,
    samples: int = 30,
    keys: Sequence[str] | None = None,
    evaluation_file: EvaluationFiles = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SplitPredictions | None:
    """The predictions from the evaluate file or the cache when one fits, else None (no
    inference is run)."""
    keys = _check(methods, keys, samples)
    wanted = placements(methods)
    digest, _, sources = _locations(wanted, models_folder, split, evaluation_file, cache_dir)
    return _first_usable(digest, sources, split, keys, methods, wanted, samples)


def get_predictions(
    methods: Mapping[str, Method],
    models_folder: str | os.PathLike[str],
    split: FerPlusSplit,
    samples: int = 30,
    keys: Sequence[str] | None = None,
    evaluation_file: EvaluationFiles = None,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    precision: str = "auto",
) -> SplitPredictions:
    """Every requested method's samples on ``split``, from a file when one fits, else computed
    (in ``precision``, see `bnnfer.mc_predict`) and cached (see the module docstring).
    ``progress(fraction, text)`` is called as each batch of faces is done."""
    keys = _check(methods, keys, samples)
    wanted = placements(methods)
    digest, cache, sources = _locations(wanted, models_folder, split, evaluation_file, cache_dir)
    found = _first_usable(digest, sources, split, keys, methods, wanted, samples)
    if found is not None:
        return found

    # compute what is missing, then merge into the cache (keeping more samples where it had them)
    existing, placed = _matching_samples(cache, digest, split, wanted) or ({}, {})
    computed: dict[str, np.ndarray] = {}
    for i, key in enumerate(keys):
        method = methods[key]
        have = existing.get(key)
        if have is not None and (not method.sampled or have.shape[0] >= samples):
            computed[key] = have[:samples] if method.sampled else have
            continue

        def report(done: int, total: int, i: int = i, key: str = key) -> None:
            if progress is not None:
                progress((i + done / total) / len(keys), f"running {key}: {done}/{total} faces")

        report(0, len(split))
        computed[key] = mc_predict(
            method,
            split.images,
            samples=samples if method.sampled else None,
            seed=seed,
            precision=precision,
            progress=report,
        ).numpy()
        existing[key] = computed[key]
        if key in wanted:
            placed[key] = wanted[key]
    if progress is not None:
        progress(1.0, "done")
    merge_into_cache(cache, digest, split, existing, placed)
    computed32 = {k: v.astype(np.float32) for k, v in computed.items()}
    return SplitPredictions(
        split.split, split.names, split.images, split.votes, computed32, "computed"
    )


def stored_samples(path: Path, request: Any, split: FerPlusSplit) -> dict[str, np.ndarray]:
    """The rows of ``request`` (a `bnnfer.inference.computations.Request`) that the cache file
    ``path`` already holds for these models and faces, sampled rows cut to its S (rows with fewer
    samples, or sampled with another placement, are left out)."""
    wanted = dict(request.placements)
    matching = _matching_samples(path, request.models_digest, split, wanted)
    if matching is None:
        return {}
    found = {}
    for key in request.keys:
        array = matching[0].get(key)
        if array is None or (key in wanted and array.shape[0] < request.samples):
            continue
        found[key] = array[: request.samples] if key in wanted else array
    return found


# one lock per cache file: rows finishing in several threads merge into it one at a time
_FILE_LOCKS: defaultdict[Path, threading.Lock] = defaultdict(threading.Lock)


def merge_into_cache(
    path: Path,
    digest: str,
    split: FerPlusSplit,
    samples: Mapping[str, np.ndarray],
    placed: Mapping[str, str],
) -> None:
    """Add (or replace) rows ``samples`` in the cache file, keeping its other rows; ``placed``
    gives the new MC rows' placements."""
    with _FILE_LOCKS[Path(path)]:
        existing, recorded = _matching_samples(path, digest, split, placed) or ({}, {})
        existing.update(samples)
        recorded.update(placed)
        _write_cache(path, digest, split, existing, recorded)


def _write_cache(
    path: Path,
    digest: str,
    split: FerPlusSplit,
    samples: Mapping[str, np.ndarray],
    placed: Mapping[str, str],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "models_digest": digest,
        "split": split.split,
        "faces_digest": split.faces_digest,
        "methods": list(samples),
        "placements": dict(placed),
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "names": split.names.astype(str),
        **{f"{k}.samples": v.astype(np.float16) for k, v in samples.items()},
    }
    write_atomic(path, lambda file: np.savez_compressed(file, **arrays))
