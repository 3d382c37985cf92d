"""Which dataset and face a vote is on, as the annotations database names them.

A dataset is ``ferplus:<split>`` (a FER+ split, faces named by their file, ``fer0000123.png``),
``folder:<digest>`` (a folder of your own face images, each named by its path inside the
folder; the digest covers every image's path and bytes, so the same folder copied elsewhere is
the same dataset, and a changed image makes a new one) or ``photos`` (faces found in uploaded
photos, named by a hash of the face's pixels: the photo itself is never kept).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from ..constants import SPLITS

PHOTOS = "photos"
FERPLUS_PREFIX = "ferplus:"
FOLDER_PREFIX = "folder:"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_DIGEST = 16  # hex characters of a folder's digest and of a photo face's hash
_FOLDER = re.compile(rf"{FOLDER_PREFIX}[0-9a-f]{{{_DIGEST}}}")


def ferplus_dataset(split: str) -> str:
    """The dataset name of a FER+ split (``train``, ``valid`` or ``test``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"{FERPLUS_PREFIX}{split}"


def image_files(root: str | os.PathLike[str]) -> list[str]:
    """The images of a folder and its subfolders (by suffix, `IMAGE_SUFFIXES`), as sorted
    paths relative to it with ``/`` separators; hidden files and folders left out."""
    root = Path(root)
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(relative.as_posix())
    return sorted(found)


def folder_dataset(root: str | os.PathLike[str]) -> str:
    """``folder:<digest>``: sha256 over each image's relative path and bytes (`image_files`).
    ValueError naming the folder where it holds no image."""
    root = Path(root)
    names = image_files(root) if root.is_dir() else []
    if not names:
        raise ValueError(
            f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder or below"
        )
    digest = hashlib.sha256(b"bnnfer-folder-dataset-1")
    for name in names:
        digest.update(name.encode() + b"\0" + hashlib.sha256((root / name).read_bytes()).digest())
    return f"{FOLDER_PREFIX}{digest.hexdigest()[:_DIGEST]}"


def photo_face_name(face: np.ndarray) -> str:
    """The name of a face found in a photo: ``photo-<hash>.png``, the hash of its uint8
    ``(48, 48)`` pixels (the same face gets the same name; the pixels are not kept)."""
    face = np.ascontiguousarray(face, dtype=np.uint8)
    return f"photo-{hashlib.sha256(face.tobytes()).hexdigest()[:_DIGEST]}.png"


def check_dataset(dataset: str) -> str:
    """``dataset`` if it is a name this module gives, else ValueError saying which are."""
    valid = (
        dataset == PHOTOS
        or (dataset.startswith(FERPLUS_PREFIX) and dataset[len(FERPLUS_PREFIX) :] in SPLITS)
        or _FOLDER.fullmatch(dataset) is not None
    )
    if not valid:
        raise ValueError(
            f"dataset {dataset!r} is none of ferplus:<{'|'.join(SPLITS)}>, "
            f"folder:<{_DIGEST} hex digits> (the digest of a folder of images) or {PHOTOS}"
        )
    return dataset


def folder_name(dataset: str) -> str:
    """A folder name for ``dataset``'s export: ``ferplus-valid``, ``folder-<digest>``,
    ``photos``."""
    return check_dataset(dataset).replace(":", "-")
