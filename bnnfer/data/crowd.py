"""Your own annotated faces as a dataset: ``votes.csv`` or ``annotations.csv`` and the images
they name, one split ``all``.

The folder holds a ``votes.csv`` and the images it names (any size, any format Pillow reads;
a name may lead into subfolders of the folder)::

    name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
    alice.jpg,0,3,1,0,0,0,0,0,0,0
    shoots/bob.png,2,0,0,1,0,0,0,0,0,0

A header row with ``name`` and a vote count column per FER+ emotion (an absent column is 0
votes everywhere, as is an empty cell), ``unknown`` and ``NF`` optional; any number of
annotators per face, at least one. It is read into the same `bnnfer.data.split.FerPlusSplit` as a
FER+ split, named ``"all"``, with FER+'s rule: faces whose plurality is ``unknown`` or ``NF``
are dropped and counted.

Instead of ``votes.csv`` the folder may hold ``annotations.csv``, one row per vote with who cast
it (the emotion one of FER+'s ten answers, `VOTE_COLUMNS`, in any case)::

    name,annotator,emotion
    alice.jpg,ann,happiness
    alice.jpg,ben,surprise

The counts are derived from it, and the identities kept in the split's `Annotations`
(`bnnfer.evaluation.annotators` scores each annotator). A folder may hold both files (``bnnfer
annotations export`` writes both): it is read from ``annotations.csv``, and ``votes.csv`` must
count the same votes face by face, else a `FerPlusError` names both files and the first face
that differs (`read_crowd`).

Faces must be 48x48 grayscale, as FER's. An image that is one already is taken as it is; any
other goes through the photo path (`bnnfer.media.faces`): MTCNN finds the faces, the largest is
kept, and FER's framing around it is cut and resized (`prepare_face`). With ``detect=False`` the
whole image is resized to 48x48 grayscale instead. An image where detection finds no face is left
out, counted in ``dropped["no_face_detected"]`` and named in `FerPlusSplit.no_face_detected`.

Everything ``votes.csv`` can get wrong (no ``name`` column, unknown columns, a count that is not
a whole number >= 0, a face without a vote, a repeated name, a name with no file, an image that
cannot be decoded) is a `FerPlusError` naming the file, the row and what was expected; so is
everything ``annotations.csv`` can (a missing or unknown column, an empty name or annotator, an
unknown emotion word, an annotator voting twice on a face, a name with no file), and a
``votes.csv`` that disagrees with the ``annotations.csv`` beside it.

Detection costs about a tenth of a second per image on a CPU, so the prepared faces are cached
like FER+'s decoded splits, keyed by ``votes.csv``'s bytes, each image's name, size and
modification time, the ``detect`` flag and the framing constants: any change gives a new key
(``annotations.csv``'s bytes in its place; the identities are read from it on every load).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..constants import (
    CROWD_ANNOTATIONS_CSV,
    CROWD_SPLIT,
    CROWD_VOTES_CSV,
    EMOTIONS,
    IMAGE_SIZE,
    NUM_VOTE_COLUMNS,
    VOTE_COLUMNS,
)
from ..media import faces
from .cache import load_cache, save_cache
from .split import Annotations, FerPlusError, FerPlusSplit
from .votes import filter_emotion_faces

_CACHE_FORMAT = 1  # bump when the cached arrays change meaning
NO_FACE = "no_face_detected"  # the `FerPlusSplit.dropped` key of images without a face
ANNOTATION_COLUMNS = ("name", "annotator", "emotion")  # the header of annotations.csv
_ANSWERS = {column.lower(): index for index, column in enumerate(VOTE_COLUMNS)}


def read_votes(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, list[int]]:
    """``(names, votes, rows)`` of a ``votes.csv``: the image names as written, int64 votes
    ``(N, 10)`` over ``VOTE_COLUMNS`` (absent columns and empty cells are 0), and each face's
    row number in the file (the header is row 1). Raises `FerPlusError` naming the row."""
    path = Path(path)
    header, reader = _csv(path)
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
    for number, cells in _rows(reader, header, path):
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


def _csv(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    """The stripped header of a UTF-8 CSV and a reader of the rows after it."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FerPlusError(path, "is not a UTF-8 text file; expected a CSV") from None
    reader = csv.reader(text.splitlines())
    return [cell.strip() for cell in next(reader, [])], reader


def read_annotations(path: str | os.PathLike[str]) -> tuple[list[str], Annotations, list[int]]:
    """``(names, annotations, rows)`` of an ``annotations.csv`` (``name,annotator,emotion``, one
    row per vote): the image names in the order they first appear, who answered what on each
    (`Annotations`; its `Annotations.counts` are the faces' votes ``(N, 10)``), and each face's
    first row number (the header is row 1). An emotion is one of ``VOTE_COLUMNS``, in any case.
    Raises `FerPlusError` naming the row."""
    path = Path(path)
    header, reader = _csv(path)
    expected = f"the columns {', '.join(ANNOTATION_COLUMNS)} (one row per vote)"
    if not any(header):
        raise FerPlusError(path, f"is empty; expected a header row with {expected}", 1)
    missing = [column for column in ANNOTATION_COLUMNS if column not in header]
    unknown = [cell for cell in header if cell not in ANNOTATION_COLUMNS]
    repeated = sorted({cell for cell in header if header.count(cell) > 1})
    problems = {"no": missing, "unknown": unknown, "repeated": repeated}
    what = next((f"{word} column(s) {cells}" for word, cells in problems.items() if cells), "")
    if what:
        raise FerPlusError(path, f"header {header} has {what}; expected {expected}", 1)
    at = {column: header.index(column) for column in ANNOTATION_COLUMNS}
    faces: dict[str, int] = {}  # name -> face
    people: dict[str, int] = {}  # annotator -> position
    rows: list[int] = []
    votes: list[tuple[int, int, int]] = []
    seen: dict[tuple[int, int], int] = {}  # (face, annotator) -> row
    for number, cells in _rows(reader, header, path):
        name, person, word = (cells[at[column]].strip() for column in ANNOTATION_COLUMNS)
        _check_name(path, name, number)
        if not person:
            raise FerPlusError(path, f"the annotator of {name!r} is empty; expected a name", number)
        if word.lower() not in _ANSWERS:
            raise FerPlusError(
                path, f"emotion {word!r} is not one of {', '.join(VOTE_COLUMNS)}", number
            )
        face = faces.setdefault(name, len(faces))
        if face == len(rows):
            rows.append(number)
        annotator = people.setdefault(person, len(people))
        if (face, annotator) in seen:
            raise FerPlusError(
                path,
                f"annotator {person!r} votes on {name!r} again (first at row "
                f"{seen[face, annotator]}); expected one vote per annotator and face",
                number,
            )
        seen[face, annotator] = number
        votes.append((face, annotator, _ANSWERS[word.lower()]))
    if not votes:
        raise FerPlusError(path, "has a header but no vote rows")
    face, annotator, answer = np.asarray(votes, dtype=np.int64).T
    annotations = Annotations(tuple(people), face, annotator, answer, len(faces))
    return list(faces), annotations, rows


def crowd_file(root: str | os.PathLike[str]) -> Path:
    """The file a folder of your own faces is read from: its ``annotations.csv`` where it has
    one (a ``votes.csv`` beside it must agree: `read_crowd`), else its ``votes.csv``; a
    `FerPlusError` where it holds neither."""
    root = Path(root)
    for name in (CROWD_ANNOTATIONS_CSV, CROWD_VOTES_CSV):
        if (root / name).is_file():
            return root / name
    raise FerPlusError(
        root,
        f"holds neither {CROWD_VOTES_CSV} (vote counts per face) nor "
        f"{CROWD_ANNOTATIONS_CSV} (one row per vote, with its annotator); expected one or both",
    )


def read_crowd(
    root: str | os.PathLike[str],
) -> tuple[Path, list[str], np.ndarray, Annotations | None, list[int]]:
    """``(source, names, votes, annotations, rows)`` of a folder of your own faces: the file
    read (`crowd_file`), the image names, int64 votes ``(N, 10)``, who cast them (`Annotations`
    from ``annotations.csv``, else None) and each face's row in ``source``.

    A folder holding both files is read from ``annotations.csv``, and its ``votes.csv`` must
    count the same votes on the same faces: the first face where they differ (in
    ``annotations.csv``'s order, then faces only ``votes.csv`` names) is a `FerPlusError`
    naming both files and that face."""
    source = crowd_file(root)
    if source.name == CROWD_VOTES_CSV:
        names, votes, rows = read_votes(source)
        return source, names, votes, None, rows
    names, annotations, rows = read_annotations(source)
    votes = annotations.counts()
    counts_path = source.with_name(CROWD_VOTES_CSV)
    if counts_path.is_file():
        _check_agree(source, names, votes, counts_path)
    return source, names, votes, annotations, rows


def _check_agree(source: Path, names: list[str], votes: np.ndarray, counts_path: Path) -> None:
    """A `FerPlusError` naming both files and the first face whose votes differ."""
    listed, counts, rows = read_votes(counts_path)
    at = {name: i for i, name in enumerate(listed)}
    for name, row in zip(names, votes, strict=True):
        if name not in at:
            what = f"face {name!r} has {int(row.sum())} votes in {source.name} but no row here"
            raise FerPlusError(counts_path, f"{what}; {_AGREE}")
        if not np.array_equal(counts[at[name]], row):
            theirs = _spelled(counts[at[name]])
            raise FerPlusError(
                counts_path,
                f"face {name!r} counts {theirs}, {source.name} {_spelled(row)}; {_AGREE}",
                rows[at[name]],
            )
    voted = set(names)
    extra = next((i for i, name in enumerate(listed) if name not in voted), None)
    if extra is not None:
        raise FerPlusError(
            counts_path,
            f"face {listed[extra]!r} is not in {source.name}; {_AGREE}",
            rows[extra],
        )


_AGREE = (
    f"a folder holding both {CROWD_ANNOTATIONS_CSV} and {CROWD_VOTES_CSV} needs the same votes "
    f"on the same faces in both (delete {CROWD_VOTES_CSV}, or export both again)"
)


def _spelled(row: np.ndarray) -> str:
    """A face's votes as ``{happiness: 2, fear: 1}`` (the columns with a vote)."""
    return (
        "{" + ", ".join(f"{c}: {int(n)}" for c, n in zip(VOTE_COLUMNS, row, strict=True) if n) + "}"
    )


def _rows(
    reader: Iterator[list[str]], header: list[str], path: Path
) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells)`` of a CSV's body (the header is row 1), blank rows skipped; a row
    whose cell count differs from the header's is a `FerPlusError` naming it."""
    for number, cells in enumerate(reader, start=2):
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise FerPlusError(
                path, f"has {len(cells)} cells, the header has {len(header)}", number
            )
        yield number, cells


def _check_name(path: Path, name: str, row: int) -> None:
    parts = PurePosixPath(name.replace("\\", "/"))
    if not name or parts.is_absolute() or ".." in parts.parts:
        raise FerPlusError(
            path,
            f"image name {name!r} must be a file's path relative to the folder of "
            f"{path.name}, e.g. face1.jpg or shoot2/face1.png",
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


def no_face_text(names: Sequence[str], shown: int = 20) -> str:
    """The images where no face was found, as one sentence naming the first ``shown``."""
    listed = ", ".join(names[:shown]) + (
        f" and {len(names) - shown} more" if len(names) > shown else ""
    )
    return (
        f"no face detected in {len(names)} image(s), left out: {listed} (crop them to the face, "
        "or pass --no-detect to use each whole image)"
    )


def prepare_face(image: Image.Image, detect: bool = True) -> np.ndarray | None:
    """A photo (RGB, as `bnnfer.media.faces.decode_photo` gives) as a uint8 ``(48, 48)`` face, or
    None where detection finds none.

    A 48x48 grayscale image is taken as it is; otherwise, with ``detect``, the largest face
    MTCNN finds is cut at FER's framing (`bnnfer.media.faces.detect_faces`), and without it the
    whole image is resized to 48x48 grayscale."""
    rgb = np.asarray(image.convert("RGB"))
    gray = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    if image.size == (IMAGE_SIZE, IMAGE_SIZE) and gray:
        return rgb[..., 0].copy()
    if not detect:
        whole = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        return np.asarray(whole, dtype=np.uint8)
    found = faces.detect_faces(image).faces  # the largest first
    return found[0].crop if found else None


def _fingerprint(root: Path, source: Path, names: list[str], detect: bool) -> str:
    """sha256 over the ``source`` file's bytes (``votes.csv`` or ``annotations.csv``), each
    image's name, size and mtime, the ``detect`` flag and the constants detection and framing
    depend on."""
    digest = hashlib.sha256(f"bnnfer-crowd-cache-{_CACHE_FORMAT}".encode())
    digest.update(source.read_bytes())
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
    root: Path, source: Path, names: list[str], rows: list[int], detect: bool
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 faces ``(N, 48, 48)`` (zeros where none was found) and bool ``found`` ``(N,)``;
    an image that cannot be read is a `FerPlusError` naming ``source`` and its row."""
    images = np.zeros((len(names), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    found = np.zeros(len(names), dtype=bool)
    for i, (name, row) in enumerate(zip(names, rows, strict=True)):
        try:
            photo = faces.decode_photo((root / name).read_bytes())
        except (OSError, faces.PhotoError) as error:
            raise FerPlusError(
                source,
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
    """The faces of a ``votes.csv`` or ``annotations.csv`` folder as one `FerPlusSplit` named
    ``"all"`` (with its `Annotations` from ``annotations.csv``).

    Args:
        root: the folder holding ``votes.csv`` or ``annotations.csv``, and the images.
        cache_dir: where the prepared faces are cached; None for no cache.
        detect: find the face in images that are not 48x48 grayscale (else resize them).

    Returns:
        The split: faces ``(N, 48, 48)``, votes ``(N, 10)`` and names in the file's order,
        after FER+'s plurality rule and the images without a face (`dropped`,
        `FerPlusSplit.no_face_detected`) are left out. Raises `FerPlusError` when none is left.
    """
    root = Path(root)
    source, names, votes, annotations, rows = read_crowd(root)
    for name, row in zip(names, rows, strict=True):
        if not (root / name).is_file():
            raise FerPlusError(
                source, f"image {name!r} is not in the folder ({root / name} is missing)", row
            )
    raw = None
    cache_path = None
    if cache_dir is not None:
        cache_path = (
            Path(cache_dir) / f"ferplus-crowd-{_fingerprint(root, source, names, detect)}.npz"
        )
        raw = load_cache(cache_path, extra=("found",))
        if raw is not None and (raw[3].shape != (len(names),) or raw[2].tolist() != names):
            raw = None
    if raw is None:
        images, found = _prepare_all(root, source, names, rows, detect)
        array_names = np.asarray(names, dtype=str)
        if cache_path is not None:
            save_cache(cache_path, images, votes, array_names, found=found)
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
            source, f"no face is left: {sum(dropped.values())} dropped {dropped}{why}"
        )
    return FerPlusSplit(
        split=CROWD_SPLIT,
        images=images[keep],
        votes=votes[keep],
        names=array_names[keep],
        dropped=dropped,
        no_face_detected=missing,
        annotations=None if annotations is None else annotations.subset(keep),
    )
