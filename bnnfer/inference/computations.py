"""Shared, resumable computation of a split's predictions: one per request and process.

A dashboard with several browser tabs must not run the same models over the same faces twice,
must stop working for a tab that was closed, and must not lose what it computed when it is
stopped. A `Computation` computes what `bnnfer.inference.store.get_predictions` finds in no
file, in a background thread (or, for `get_predictions` itself, in the caller's: `run`):

* **cheapest rows first**: single-pass rows (S = 1), then ensembles (one pass per member), then
  the MC rows, so the first rows can be shown while the others run. The deterministic rows
  share their networks' logits: the bundle's classical row, its temperature-scaled copy and the
  ensemble's first member are one network, run once. An MC-Dropout row sampling the head only
  shares its trunk (every convolution: nearly all the work) with the deterministic pass of the
  same weights, which keeps the trunk's output, a vector per face, until the MC row draws from
  it;
* **every finished batch on disk**: each batch's float16 samples ``(S, b, C)`` and the
  generator state after it are written atomically to
  ``<cache>/partial/<request tag>/<key>/batch-<stop>.npz``; a computation started again for the
  same request resumes every row from its last finished batch, drawing the same samples as an
  uninterrupted run (`bnnfer.inference.mc.mc_batches`). A finished row is merged into the store's
  cache file and its batches are deleted;
* **shared**: `shared_computation` keeps one computation per request in this process, so every
  session asking for the same predictions watches the same one;
* **stopped when nobody waits**: readers call `Computation.touch`; a computation not touched
  for ``idle_timeout`` seconds stops after its current batch (its finished batches stay).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_atomic
from ..data.cache import default_cache_dir
from ..data.split import FerPlusSplit
from ..data.transforms import to_input
from ..evaluation.predictions import models_digest
from ..models import engine
from ..models.methods import MCDropout, Method, placements
from ..models.networks import FaceCNN
from .cache import (
    UNREADABLE,
    Request,
    SplitPredictions,
    cache_path,
    merge_into_cache,
    stored_samples,
)
from .mc import autocast_dtype, mc_batches, resolve_precision

# faces per batch (and per file on disk): a batch of 256 faces takes about a second per pass
BATCH_SIZE = 256
# seconds without a `touch` after which a computation stops (a tab touches it every second)
IDLE_TIMEOUT = 20.0


def cost_order(methods: Mapping[str, Method], keys: Sequence[str]) -> list[str]:
    """``keys`` cheapest first: single-pass rows, then ensembles (by members), then MC rows,
    each group in the given order."""

    def cost(key: str) -> int:
        method = methods[key]
        return 2 if method.sampled else int(method.check_samples(None) > 1)

    return sorted(keys, key=cost)


def make_request(
    methods: Mapping[str, Method],
    models_folder: str | Path,
    split: FerPlusSplit,
    keys: Sequence[str] | None,
    samples: int,
    seed: int = 0,
    precision: str = "auto",
) -> Request:
    """The `Request` of rows ``keys`` of ``methods`` (None: all of them) on ``split``, the
    models identified by ``models_folder``'s manifest, ``precision`` resolved on the methods'
    device; a ValueError naming an unknown key or a ``samples`` below 1."""
    keys = list(keys if keys is not None else methods)
    unknown = [k for k in keys if k not in methods]
    if unknown:
        raise ValueError(f"unknown method key(s) {unknown}; loaded: {list(methods)}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    device = next(iter(methods.values())).device if methods else torch.device("cpu")
    return Request(
        models_digest=models_digest(models_folder),
        split=split.split,
        faces_digest=split.faces_digest,
        keys=tuple(keys),
        samples=samples,
        seed=seed,
        precision=resolve_precision(precision, device),
        placements=tuple(sorted(placements({k: methods[k] for k in keys}).items())),
        sampled=tuple(k for k in keys if methods[k].sampled),
    )


_NETWORK_KEYS: weakref.WeakKeyDictionary[FaceCNN, str] = weakref.WeakKeyDictionary()


def network_key(network: FaceCNN) -> str:
    """sha256 of a network's parameters and buffers: two loaded copies of the same weights
    share a key (memoised per network object)."""
    if network not in _NETWORK_KEYS:
        digest = hashlib.sha256()
        for name, tensor in network.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        _NETWORK_KEYS[network] = digest.hexdigest()
    return _NETWORK_KEYS[network]


class Computation:
    """The requested rows' samples on one split, computed in a background thread.

    Read `finished` (``{key: float32 (S, N, C)}`` of the rows done so far), `progress`
    (``{key: (faces done, faces)}``) and `state` (``"running"``, ``"done"``, ``"stopped"``,
    ``"failed"`` with `error`). `batches_computed` counts the batches this object ran itself
    (resumed ones excluded).
    """

    def __init__(
        self,
        methods: Mapping[str, Method],
        split: FerPlusSplit,
        request: Request,
        cache_dir: str | Path | None = None,
        batch_size: int = BATCH_SIZE,
        idle_timeout: float | None = IDLE_TIMEOUT,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.methods = {k: methods[k] for k in request.keys}
        self.split = split
        self.request = request
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self.cache_file = cache_path(
            self.cache_dir, request.models_digest, request.split, dict(request.placements)
        )
        self.partial_dir = self.cache_dir / "partial" / f"{request.tag}-b{batch_size}"
        self.batch_size = batch_size
        self.idle_timeout = idle_timeout
        self.order = cost_order(self.methods, request.keys)
        self.finished: dict[str, np.ndarray] = {}
        self.progress: dict[str, tuple[int, int]] = {k: (0, len(split)) for k in self.order}
        self.state = "running"
        self.error: BaseException | None = None
        self.batches_computed = 0
        # (network_key, first face) -> deterministic logits (b, C), shared by the rows
        self._logits: dict[tuple[str, int], torch.Tensor] = {}
        # network key -> the MC-Dropout row whose trunk the deterministic pass of those weights
        # runs too (found in the background thread: hashing weights takes a moment);
        # (row, first face) -> that row's trunk output for the batch, until the row uses it
        self._trunk_rows: dict[str, str] = {}
        self._features: dict[tuple[str, int], torch.Tensor] = {}
        self._progress_callback: Callable[[float, str], None] | None = None
        self._last_touch = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"bnnfer-{request.tag}", daemon=True)

    # -- control ---------------------------------------------------------------------------

    def start(self) -> Computation:
        self._thread.start()
        return self

    def run(self, progress: Callable[[float, str], None] | None = None) -> Computation:
        """Compute in the calling thread instead of starting one; ``progress(fraction, text)``
        after every batch. Raises what made the computation fail."""
        self._progress_callback = progress
        self._run()
        if self.error is not None:
            raise self.error
        if progress is not None:
            progress(1.0, "done")
        return self

    def touch(self) -> None:
        """Say that someone still waits for the result."""
        self._last_touch = time.monotonic()

    def stop(self) -> None:
        """Stop after the current batch (finished batches stay on disk)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the computation ends; whether it did within ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def predictions(self) -> SplitPredictions:
        """The finished rows as `SplitPredictions` (``source`` ``"computed"``)."""
        with self._lock:
            done = dict(self.finished)
        return SplitPredictions(
            self.split.split,
            self.split.names,
            self.split.images,
            self.split.votes,
            done,
            "computed",
        )

    # -- the work --------------------------------------------------------------------------

    def _should_stop(self) -> bool:
        idle = self.idle_timeout is not None and (
            time.monotonic() - self._last_touch > self.idle_timeout
        )
        return self._stop.is_set() or idle

    def _run(self) -> None:
        try:
            cached = stored_samples(self.cache_file, self.request, self.split)
            self._trunk_rows = _trunk_rows(self.methods)
            for key in self.order:
                have = cached.get(key)
                if have is not None:
                    self._finish(key, have, merge=False)
                    continue
                if self._should_stop():
                    self.state = "stopped"
                    return
                samples = self._compute(key)
                if samples is None:
                    self.state = "stopped"
                    return
                self._finish(key, samples, merge=True)
            self.state = "done"
        except BaseException as error:  # surfaced to readers through .state and .error
            self.error = error
            self.state = "failed"

    def _finish(self, key: str, samples: np.ndarray, merge: bool) -> None:
        if merge:
            placed = dict(self.request.placements)
            merge_into_cache(
                self.cache_file,
                self.request.models_digest,
                self.split,
                {key: samples},
                {key: placed[key]} if key in placed else {},
            )
            shutil.rmtree(self.partial_dir / key, ignore_errors=True)
        with self._lock:
            self.finished[key] = samples.astype(np.float32)
            self.progress[key] = (len(self.split), len(self.split))

    def _resume(self, folder: Path) -> tuple[list[np.ndarray], torch.Tensor | None, int]:
        """The finished batches in ``folder`` (contiguous from face 0), the generator state
        after the last, and where to continue."""
        parts, state, stop = [], None, 0
        while True:
            path = folder / f"batch-{min(stop + self.batch_size, len(self.split)):07d}.npz"
            if stop >= len(self.split) or not path.is_file():
                return parts, state, stop
            try:
                with np.load(path, allow_pickle=False) as archive:
                    part, saved = archive["samples"], archive["state"]
            except UNREADABLE:
                return parts, state, stop
            parts.append(part)
            state = torch.from_numpy(saved.copy())
            stop = min(stop + self.batch_size, len(self.split))

    def _compute(self, key: str) -> np.ndarray | None:
        """The row's samples ``(S, N, C)`` float16, from its saved batches and new ones; None
        when stopped first."""
        method = self.methods[key]
        folder = self.partial_dir / key
        folder.mkdir(parents=True, exist_ok=True)
        parts, state, start = self._resume(folder)
        self.progress[key] = (start, len(self.split))
        self._tell(key)
        if start < len(self.split):
            if method.sampled:
                batches = mc_batches(
                    method,
                    self.split.images,
                    self.request.samples,
                    self.batch_size,
                    self.request.seed,
                    precision=self.request.precision,
                    start=start,
                    generator_state=state,
                    features=self._shared_features(key),
                )
            else:
                batches = self._deterministic_batches(method, start)
            for stop, drawn, after in batches:
                part = drawn.numpy().astype(np.float16)
                _save_batch(folder / f"batch-{stop:07d}.npz", part, after.numpy())
                parts.append(part)
                self.batches_computed += 1
                self.progress[key] = (stop, len(self.split))
                self._tell(key)
                if stop < len(self.split) and self._should_stop():
                    return None
        return np.concatenate(parts, axis=1)

    def _tell(self, key: str) -> None:
        """Report the progress of ``key``'s row to `run`'s caller, if it asked."""
        if self._progress_callback is None:
            return
        done, total = self.progress[key]
        everything = sum(n for _, n in self.progress.values())
        fraction = sum(d for d, _ in self.progress.values()) / max(1, everything)
        self._progress_callback(fraction, f"running {key}: {done}/{total} faces")

    def _deterministic_batches(
        self, method: Method, start: int
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """`mc_batches` of a row without sampling (classical, ensemble) from its networks'
        logits, each network run once per batch for every row that uses it."""
        inputs = to_input(self.split.images)
        device = method.device
        bf16 = autocast_dtype(self.request.precision, device) is not None
        for first in range(start, len(self.split), self.batch_size):
            logits = []
            for network in method.networks:
                key = (network_key(network), first)
                if key not in self._logits:
                    with (
                        torch.inference_mode(),
                        torch.autocast(device.type, torch.bfloat16, enabled=bf16),
                    ):
                        batch = inputs[first : first + self.batch_size].to(device)
                        batch = batch.contiguous(memory_format=torch.channels_last)
                        self._logits[key] = self._deterministic(network, key[0], batch, first)
                logits.append(self._logits[key])
            with torch.inference_mode():
                drawn = method.combine(logits)
            yield min(first + self.batch_size, len(self.split)), drawn.float().cpu(), _NO_STATE

    def _deterministic(
        self, network: FaceCNN, key: str, batch: torch.Tensor, first: int
    ) -> torch.Tensor:
        """``network``'s logits for ``batch``; on the way, the trunk of the MC-Dropout row on
        the same weights (`_trunk_rows`), kept for it when it is a vector per face."""
        row = self._trunk_rows.get(key)
        if row is None:
            return engine.deterministic(network, batch)
        sampled = self.methods[row].networks[0]
        logits, features = engine.deterministic_and_trunk(network, sampled, batch)
        if features.dim() == 2:  # (b, F): the head-only trunk, small enough to keep
            self._features[(row, first)] = features
        return logits

    def _shared_features(self, row: str):
        """For `mc_batches`: the trunk a deterministic pass kept for ``row``'s batch at a given
        first face, handed over once (None: the row runs its trunk itself)."""
        if row not in self._trunk_rows.values():
            return None
        return lambda first: self._features.pop((row, first), None)


def _trunk_rows(methods: Mapping[str, Method]) -> dict[str, str]:
    """``{network key: MC-Dropout row}``: the networks a deterministic row (classical,
    ensemble) of ``methods`` runs that an MC-Dropout row samples (the first such row)."""
    deterministic = {
        network_key(network)
        for method in methods.values()
        if not method.sampled
        for network in method.networks
    }
    shared: dict[str, str] = {}
    for row, method in methods.items():
        key = network_key(method.networks[0]) if isinstance(method, MCDropout) else None
        if key in deterministic:
            shared.setdefault(key, row)
    return shared


# what a deterministic row's batch files hold in place of a generator state
_NO_STATE = torch.zeros(0, dtype=torch.uint8)


def _save_batch(path: Path, samples: np.ndarray, state: np.ndarray) -> None:
    write_atomic(path, lambda file: np.savez(file, samples=samples, state=state))


# -- one computation per request, shared by every session of the process ----------------------

# (request, cache folder) -> its computation
_RUNNING: dict[tuple[Request, Path], Computation] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_computation(
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    request: Request,
    cache_dir: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    idle_timeout: float | None = IDLE_TIMEOUT,
) -> Computation:
    """The computation for ``request``: the one already running in this process, else a new
    one started (resuming whatever an earlier one left on disk). Touched on return."""
    where = (request, Path(cache_dir or default_cache_dir()).resolve())
    with _REGISTRY_LOCK:
        current = _RUNNING.get(where)
        if current is None or current.state in ("stopped", "failed"):
            current = Computation(methods, split, request, where[1], batch_size, idle_timeout)
            _RUNNING[where] = current.start()
        current.touch()
        return current


def running() -> list[Computation]:
    """The computations of this process still at work."""
    with _REGISTRY_LOCK:
        return [c for c in _RUNNING.values() if c.alive]


def forget(request: Request, cache_dir: str | Path | None = None) -> None:
    """Drop a finished computation from the registry (its result is in the cache file)."""
    where = (request, Path(cache_dir or default_cache_dir()).resolve())
    with _REGISTRY_LOCK:
        current = _RUNNING.get(where)
        if current is not None and not current.alive:
            del _RUNNING[where]
