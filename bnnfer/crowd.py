"""Your own annotated faces as a dataset: ``votes.csv`` and the images it names, one split ``all``.

The folder holds a ``votes.csv`` and the images it names (any size, any format Pillow reads;
a name may lead into subfolders of the folder)::

    name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
    alice.jpg,0,3,1,0,0,0,0,0,0,0
    shoots/bob.png,2,0,0,1,0,0,0,0,0,0

A header row with ``name`` and a vote count column per FER+ emotion (an absent column is 0
votes everywhere, as is an empty cell), ``unknown`` and ``NF`` optional; any number of
annotators per face, at least one. It is read into the same `bnnfer.data.FerPlusSplit` as a
FER+ split, named ``"all"``, with FER+'s rule: faces whose plurality is ``unknown`` or ``NF``
are dropped and counted.

Faces must be 48x48 grayscale, as FER's. An image that is one already is taken as it is; any
other goes through the photo path (`bnnfer.faces`): MTCNN finds the faces, the largest is kept,
and FER's framing around it is cut and resized (`prepare_face`). With ``detect=False`` the whole
image is resized to 48x48 grayscale instead. An image where detection finds no face is left out,
counted in ``dropped["no_face_detected"]`` and named in `FerPlusSplit.no_face_detected`.

Everything ``votes.csv`` can get wrong (no ``name`` column, unknown columns, a count that is not
a whole number >= 0, a face without a vote, a repeated name, a name with no file, an image that
cannot be decoded) is a `FerPlusError` naming the file, the row and what was expected.

Detection costs about a tenth of a second per image on a CPU, so the prepared faces are cached
like FER+'s decoded splits, keyed by ``votes.csv``'s bytes, each image's name, size and
modification time, the ``detect`` flag and the framing constants: any change gives a new key.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from . import faces
from .constants import CROWD_SPLIT, EMOTIONS, IMAGE_SIZE, NUM_VOTE_COLUMNS, VOTE_COLUMNS
from .data import (
    CROWD_VOTES_CSV,
    FerPlusError,
    FerPlusSplit,
    _load_cache,
    _save_cache,
    filter_emotion_faces,
    no_face_text,
)

_CACHE_FORMAT = 1  # bump when the cached arrays change meaning
NO_FACE = "no_face_detected"  # the `FerPlusSplit.dropped` key of images without a face


def read_votes(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, list[int]]:
    """``(names, votes, rows)`` of a ``votes.csv``: the image names as written, int64 votes
    ``(N, 10)`` over ``VOTE_COLUMNS`` (absent columns and empty cells are 0), and each face's
    row number in the file (the header is row 1). Raises `FerPlusError` naming the row."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FerPlusError(path, "is not a UTF-8 text file; expected a CSV") from None
    reader = csv.reader(text.splitlines())
    header = [cell.strip() for cell in next(reader, [])]
    expected = f"'name' and vote count columns among {', '.join(VOTE_COLUMNS)}"
    if not any(header):
        raise FerPlusError(path, f"is empty; expected a header row: {expected}", 1)
    if "name" not in header:
        raise FerPlusError(path, f"header {header} has no 'name' column; expected {expected}", 1)
    unknown = [cell for cell in header if cell != "name" and cell not in VOTE_COLUMNS]
    repeated = sorted({cell for cell in header if header.count(cell) > 1})
    if unknown or repeated:
        what = f"unknown column(s) {unknown}" if unknown else f"repeated column(s) {repeated}"
        raise FerPlusError(path, f"header has {what}; expected {expected}", 1)
    if not any(e in header for e in EMOTIONS):
        raise FerPlusError(path, f"header has no emotion column; expected {expected}", 1)
    columns = {column: header.index(column) for column in VOTE_COLUMNS if column in header}
    names: list[str] = []
    votes: list[list[int]] = []
    rows: list[int] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise FerPlusError(
                path, f"has {len(cells)} cells, the header has {len(header)}", number
            )
        name = cells[header.index("name")].strip()
        _check_name(path, name, number)
        if name in seen:
            raise FerPlusError(path, f"image name {name!r} repeats row {seen[name]}", number)
        seen[name] = number
        counts = [_count(path, number, column, cells, columns) for column in VOTE_COLUMNS]
        if sum(counts) == 0:
            raise FerPlusError(
                path, f"face {name!r} has no vote; expected at least one annotator's", number
            )
        names.append(name)
        votes.append(counts)
        rows.append(number)
    if not names:
        raise FerPlusError(path, "has a header but no face rows")
    return names, np.asarray(votes, dtype=np.int64).reshape(-1, NUM_VOTE_COLUMNS), rows


def _check_name(path: Path, name: str, row: int) -> None:
    parts = PurePosixPath(name.replace("\\", "/"))
    if not name or parts.is_absolute() or ".." in parts.parts:
        raise FerPlusError(
            path,
            f"image name {name!r} must be a file's path relative to the folder of "
            f"{CROWD_VOTES_CSV}, e.g. face1.jpg or shoot2/face1.png",
            row,
        )


def _count(path: Path, row: int, column: str, cells: list[str], columns: dict[str, int]) -> int:
    if column not in columns:
        return 0
    cell = cells[columns[column]].strip()
    if not cell:
        return 0
    try:
        value = int(cell)
    except ValueError:
        raise FerPlusError(
            path, f"vote column '{column}' is {cell!r}, expected a whole number", row
        ) from None
    if value < 0:
        raise FerPlusError(path, f"vote column '{column}' is {value}, expected a count >= 0", row)
    return value


def prepare_face(image: Image.Image, detect: bool = True) -> np.ndarray | None:
    """A photo (RGB, as `bnnfer.faces.decode_photo` gives) as a uint8 ``(48, 48)`` face, or
    None where detection finds none.

    A 48x48 grayscale image is taken as it is; otherwise, with ``detect``, the largest face
    MTCNN finds is cut at FER's framing (`bnnfer.faces.detect_faces`), and without it the whole
    image is resized to 48x48 grayscale."""
    rgb = np.asarray(image.convert("RGB"))
    gray = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    if image.size == (IMAGE_SIZE, IMAGE_SIZE) and gray:
        return rgb[..., 0].copy()
    if not detect:
        whole = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        return np.asarray(whole, dtype=np.uint8)
    found = faces.detect_faces(image).faces  # the largest first
    return found[0].crop if found else None


def _fingerprint(root: Path, names: list[str], detect: bool) -> str:
    """sha256 over ``votes.csv``'s bytes, each image's name, size and mtime, the ``detect``
    flag and the constants detection and framing depend on."""
    digest = hashlib.sha256(f"bnnfer-crowd-cache-{_CACHE_FORMAT}".encode())
    digest.update((root / CROWD_VOTES_CSV).read_bytes())
    settings = (
        detect,
        faces.FRAME_SIDE_PER_BOX_HEIGHT,
        faces.FRAME_CENTRE_DY,
        faces.MIN_FACE_PROBABILITY,
        faces.DETECT_MAX_SIDE,
        IMAGE_SIZE,
    )
    digest.update(repr(settings).encode())
    for name in names:
        stat = (root / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:24]


def _prepare_all(
    root: Path, names: list[str], rows: list[int], detect: bool
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 faces ``(N, 48, 48)`` (zeros where none was found) and bool ``found`` ``(N,)``."""
    votes_path = root / CROWD_VOTES_CSV
    images = np.zeros((len(names), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    found = np.zeros(len(names), dtype=bool)
    for i, (name, row) in enumerate(zip(names, rows, strict=True)):
        try:
            photo = faces.decode_photo((root / name).read_bytes())
        except (OSError, faces.PhotoError) as error:
            raise FerPlusError(
                votes_path,
                f"image {name!r} cannot be read ({error}); expected an image file Pillow "
                "reads (PNG, JPEG, ...)",
                row,
            ) from None
        face = prepare_face(photo, detect)
        if face is not None:
            images[i], found[i] = face, True
    return images, found


def load_crowd(
    root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    detect: bool = True,
) -> FerPlusSplit:
    """The faces of a ``votes.csv`` folder as one `FerPlusSplit` named ``"all"``.

    Args:
        root: the folder holding ``votes.csv`` and the images.
        cache_dir: where the prepared faces are cached; None for no cache.
        detect: find the face in images that are not 48x48 grayscale (else resize them).

    Returns:
        The split: faces ``(N, 48, 48)``, votes ``(N, 10)`` and names in ``votes.csv``'s order,
        after FER+'s plurality rule and the images without a face (`dropped`,
        `FerPlusSplit.no_face_detected`) are left out. Raises `FerPlusError` when none is left.
    """
    root = Path(root)
    votes_path = root / CROWD_VOTES_CSV
    names, votes, rows = read_votes(votes_path)
    for name, row in zip(names, rows, strict=True):
        if not (root / name).is_file():
            raise FerPlusError(
                votes_path, f"image {name!r} is not in the folder ({root / name} is missing)", row
            )
    raw = None
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"ferplus-crowd-{_fingerprint(root, names, detect)}.npz"
        raw = _load_cache(cache_path, extra=("found",))
        if raw is not None and (raw[3].shape != (len(names),) or raw[2].tolist() != names):
            raw = None
    if raw is None:
        images, found = _prepare_all(root, names, rows, detect)
        array_names = np.asarray(names, dtype=str)
        if cache_path is not None:
            _save_cache(cache_path, images, votes, array_names, found=found)
    else:
        images, _, array_names, found = raw
        found = found.astype(bool)
    keep, dropped = filter_emotion_faces(votes)
    undetected = keep & ~found
    dropped[NO_FACE] = int(undetected.sum())
    missing = tuple(str(n) for n in array_names[undetected])
    keep &= found
    if not keep.any():
        why = f"; {no_face_text(list(missing))}" if missing else ""
        raise FerPlusError(
            votes_path, f"no face is left: {sum(dropped.values())} dropped {dropped}{why}"
        )
    return FerPlusSplit(
        split=CROWD_SPLIT,
        images=images[keep],
        votes=votes[keep],
        names=array_names[keep],
        dropped=dropped,
        no_face_detected=missing,
    )
