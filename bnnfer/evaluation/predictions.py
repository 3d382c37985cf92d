"""The predictions file, ``predictions-<split>.npz``: what the dashboard, the store and the
computations read and write. Per row key it holds the samples (float16 ``(S, N, C)``) and,
unless compact, the mean distribution and the uncertainty scores, keyed by image name and
split, beside a ``meta`` JSON string naming the models' manifest digest, the split and S, so
that a reader can tell whether the file matches what it would compute. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomic
from . import metrics


def models_digest(folder: str | os.PathLike[str]) -> str:
    """sha256 of a bundle's manifest: it changes whenever any bundled file does."""
    manifest = Path(folder) / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""


def write_predictions(
    path: str | os.PathLike[str],
    meta: Mapping[str, Any],
    names: np.ndarray,
    votes: np.ndarray,
    rows: Mapping[str, np.ndarray],
    split: str,
    compact: bool = False,
) -> None:
    """Write a predictions file atomically: ``meta`` as a JSON string, ``names`` ``(N,)``,
    ``votes`` ``(N, 10)`` and per key of ``rows`` its float16 samples ``(S, N, C)``; unless
    ``compact``, also each face's split, each row's mean distribution ``(N, C)`` and its
    uncertainty scores ``(N,)``, which a reader can recompute from the samples."""
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "names": names.astype(str),
        "votes": votes.astype(np.uint8 if compact else votes.dtype),
    }
    if not compact:
        arrays["split"] = np.full(len(names), split)
    for key, samples in rows.items():
        arrays[f"{key}.samples"] = samples.astype(np.float16)
        if compact:
            continue
        array = samples.astype(np.float64)
        array /= array.sum(axis=2, keepdims=True)
        arrays[f"{key}.mean"] = array.mean(axis=0).astype(np.float32)
        for score, values in metrics.uncertainty_scores(array).items():
            arrays[f"{key}.{score}"] = values.astype(np.float32)
    write_atomic(path, lambda file: np.savez_compressed(file, **arrays))


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` document of a predictions file, without reading its arrays."""
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["meta"]))


def read_predictions(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a predictions file, read without unpickling."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    return meta, arrays
