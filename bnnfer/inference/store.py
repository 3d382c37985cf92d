"""Predictions of the bundled methods on a FER+ split, served from the cheapest source that fits.

The dashboard needs, for every face of a split, every method's MC samples ``(S, N, C)``.
`get_predictions` looks, in order, for:

1. the file ``bnnfer evaluate`` wrote (``predictions-<split>.npz``), if it was made from the same
   bundle (manifest digest), the same split and faces, with the MC rows sampled in the same
   placement (`bnnfer.models.methods.placements`), and holds at least S samples;
2. bnnfer's own prediction cache (``<cache>/predictions-<digest>-<split>[-<placement>].npz``,
   a file per placement), same checks;
3. fresh inference: a `bnnfer.inference.computations.Computation` of the same `Request`, run in
   the calling thread, which writes each finished row to that cache.

A smaller S than a file holds is served by its first S samples, so moving the S slider down costs
nothing; moving it up past what is cached computes once and caches the larger set. The files
themselves are `bnnfer.inference.cache`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data.cache import default_cache_dir
from ..data.split import FerPlusSplit
from ..evaluation.predictions import read_predictions
from ..models.methods import Method
from .cache import UNREADABLE, Request, SplitPredictions, cache_path, stored_samples
from .computations import Computation

Progress = Callable[[float, str], None]
# an evaluate file, several tried in order, or none
EvaluationFiles = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


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


def _locations(
    request: Request,
    evaluation_file: EvaluationFiles,
    cache_dir: str | os.PathLike[str] | None,
) -> list[tuple[Path, str]]:
    """``[(file, source name), ...]`` in the order to try: the evaluate files, then the cache."""
    cache_folder = Path(cache_dir or default_cache_dir())
    cache = cache_path(cache_folder, request.models_digest, request.split, request.placed)
    if evaluation_file is None:
        files = []
    elif isinstance(evaluation_file, str | os.PathLike):
        files = [Path(evaluation_file)]
    else:
        files = [Path(f) for f in evaluation_file]
    return [*((f, "evaluate file") for f in files), (cache, "cache")]


def _first_usable(
    request: Request, sources: list[tuple[Path, str]], split: FerPlusSplit
) -> SplitPredictions | None:
    """The first file of ``sources`` holding every row of ``request``, as `SplitPredictions`."""
    for path, source in sources:
        found = stored_samples(path, request, split)
        if len(found) == len(request.keys):
            file = path if source == "evaluate file" else None
            samples = {key: found[key].astype(np.float32) for key in request.keys}
            return SplitPredictions(
                split.split, split.names, split.images, split.votes, samples, source, file
            )
    return None


def find_predictions(
    request: Request,
    split: FerPlusSplit,
    evaluation_file: EvaluationFiles = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SplitPredictions | None:
    """The predictions of ``request`` (made by `bnnfer.inference.computations.make_request`) on
    ``split`` from the evaluate file or the cache when one fits, else None (no inference is
    run). A ValueError when ``split`` is not the split the request was made for."""
    if (split.split, split.faces_digest) != (request.split, request.faces_digest):
        raise ValueError(
            f"the request was made for other faces than these ({request.split!r} split asked, "
            f"{split.split!r} given, or the same split with other images)"
        )
    return _first_usable(request, _locations(request, evaluation_file, cache_dir), split)


def get_predictions(
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    request: Request,
    evaluation_file: EvaluationFiles = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> SplitPredictions:
    """Every row of ``request`` on ``split``, from a file when one fits, else computed by
    ``methods`` (in the request's precision) and cached: a `Computation` of the same request
    run in the calling thread, so that it draws the samples the dashboard's would and resumes
    what a stopped one left on disk. ``progress(fraction, text)`` is called as each batch of
    faces is done."""
    missing = [key for key in request.keys if key not in methods]
    if missing:
        raise ValueError(f"the request's rows {missing} are not among the methods {list(methods)}")
    found = find_predictions(request, split, evaluation_file, cache_dir)
    if found is not None:
        return found
    computation = Computation(methods, split, request, cache_dir, idle_timeout=None)
    return computation.run(progress).predictions()
