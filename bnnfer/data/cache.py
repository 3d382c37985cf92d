"""The decoded-array cache of FER+ splits and of your own faces: ``.npz`` files keyed by a
fingerprint of their sources, written atomically, read back only when complete.

Decoding ~32k PNGs (or detecting faces in your own photos) takes tens of seconds, so each
split's raw arrays ``(images, votes, names, *extra)`` are kept as a compressed ``.npz`` whose
name holds a fingerprint of the source files (names, sizes, modification times, and a label
file's bytes): a changed source gives a new key, and a file that cannot be read completely is
rebuilt, never trusted. Nothing in a cache file is pickled.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .. import settings
from ..atomic import write_atomic
from ..constants import IMAGE_SIZE, NUM_VOTE_COLUMNS

CACHE_FORMAT = 1  # bump when the cached arrays change meaning


def default_cache_dir() -> Path:
    """`bnnfer.settings.cache_dir`: ``$BNNFER_CACHE``, else ``$XDG_CACHE_HOME/bnnfer``, else
    ``~/.cache/bnnfer``."""
    return settings.cache_dir()


def fingerprint(paths: Iterable[Path], hash_contents: Iterable[Path] = ()) -> str:
    """sha256 over each file's name, size and mtime, plus the full bytes of ``hash_contents``."""
    digest = hashlib.sha256(f"bnnfer-ferplus-cache-{CACHE_FORMAT}".encode())
    for path in hash_contents:
        digest.update(path.read_bytes())
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            digest.update(f"{path.name}:missing".encode())
            continue
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:24]


def folder_fingerprint(folder: Path) -> str:
    label = folder / "label.csv"
    pngs = [entry for entry in os.scandir(folder) if entry.name.endswith(".png")]
    digest = hashlib.sha256(fingerprint([], [label]).encode())
    for entry in sorted(pngs, key=lambda e: e.name):
        stat = entry.stat()
        digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:24]


def load_cache(path: Path, extra: Sequence[str] = ()) -> tuple[np.ndarray, ...] | None:
    """The cached raw arrays ``(images, votes, names, *extra)``, or None when the file is
    absent or incomplete (the ``extra`` arrays, by name, are checked by the caller)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = archive["images"], archive["votes"], archive["names"]
            extras = tuple(archive[name] for name in extra)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    images, votes, names = arrays
    n = len(images)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or votes.shape != (n, NUM_VOTE_COLUMNS):
        return None
    if names.shape != (n,):
        return None
    return images.astype(np.uint8), votes.astype(np.int64), names, *extras


def save_cache(
    path: Path, images: np.ndarray, votes: np.ndarray, names: np.ndarray, **extra: np.ndarray
) -> None:
    """Write atomically (`bnnfer.atomic`): a reader sees the old file, the new file, or none."""
    write_atomic(
        path,
        lambda file: np.savez_compressed(file, images=images, votes=votes, names=names, **extra),
    )
