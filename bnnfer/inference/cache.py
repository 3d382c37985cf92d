"""The predictions cache of a split: what identifies a split's predictions (`Request`: the
models, the faces, the rows and how they are sampled), the faces with every row's samples
(`SplitPredictions`), and the cache files that hold them (``<cache>/predictions-<digest>-<split>
[-<placement>].npz``), read only when they match a request and merged into one row at a time.
The cache holds probabilities only, never pixels.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..constants import NUM_CLASSES
from ..data.split import FerPlusSplit
from ..data.votes import human_statistics
from ..evaluation.predictions import read_predictions


@dataclass(frozen=True)
class Request:
    """What identifies a computation: the models, the faces, and how they are sampled."""

    models_digest: str
    split: str
    faces_digest: str  # FerPlusSplit.faces_digest: another folder's split differs
    keys: tuple[str, ...]
    samples: int
    seed: int
    precision: str  # as resolved on the device: "fp32" or "bf16"
    placements: tuple[tuple[str, str], ...]  # the MC rows' (key, placement)
    sampled: tuple[str, ...] = ()  # the rows that draw S samples (MC rows, from_module's too)

    @property
    def placed(self) -> dict[str, str]:
        """``{MC row: placement}``."""
        return dict(self.placements)

    @property
    def tag(self) -> str:
        """A file-name-safe name for this request's partial results."""
        text = repr(
            (
                self.models_digest,
                self.faces_digest,
                self.samples,
                self.seed,
                self.precision,
                self.placements,
            )
        )
        return f"{self.split}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


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


def matching_samples(
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


def cache_path(cache_dir: Path, digest: str, split: str, placed: Mapping[str, str]) -> Path:
    """The cache file for these models and split; MC rows sampled with narrower placements
    (``placed``, by key) get a file of their own, so switching back and forth keeps both."""
    narrowed = sorted(set(placed.values()) - {"all"})
    tag = "".join(f"-{placement}" for placement in narrowed)
    return cache_dir / f"predictions-{digest[:16]}-{split}{tag}.npz"


def stored_samples(path: Path, request: Request, split: FerPlusSplit) -> dict[str, np.ndarray]:
    """The rows of ``request``  that the cache file
    ``path`` already holds for these models and faces, sampled rows cut to its S (rows with fewer
    samples, or sampled with another placement, are left out)."""
    wanted = dict(request.placements)
    matching = matching_samples(path, request.models_digest, split, wanted)
    if matching is None:
        return {}
    found = {}
    for key in request.keys:
        array = matching[0].get(key)
        if array is None or (key in request.sampled and array.shape[0] < request.samples):
            continue
        found[key] = array[: request.samples] if key in request.sampled else array
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
        existing, recorded = matching_samples(path, digest, split, placed) or ({}, {})
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
