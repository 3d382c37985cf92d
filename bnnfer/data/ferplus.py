"""FER+ on disk -> `FerPlusSplit` in memory: both layouts, their parsing and FER+'s filtering.

FER+ users hold the data in one of two layouts, and both load into the same `FerPlusSplit`
(so does a folder of your own annotated faces, ``votes.csv`` or ``annotations.csv`` beside
the images, which `bnnfer.data.crowd` reads as one split ``"all"``):

* the FERPlus folder layout written by FERPlus's ``generate_training_data.py``::

      ROOT/FER2013Train/label.csv   + fer0000000.png ...
      ROOT/FER2013Valid/label.csv   + ...
      ROOT/FER2013Test/label.csv    + ...      (any subset of the three may be present)

  each ``label.csv`` row being ``name, "(x, y, w, h)", 10 vote counts`` with no header;

* the Kaggle layout: ``ROOT/fer2013.csv`` (``emotion,pixels,Usage``) beside FERPlus's
  ``ROOT/fer2013new.csv`` (``Usage,Image name,<10 vote columns>``) in the same row order; rows
  whose image name is empty were excluded by FER+ and are skipped, as FERPlus does.

Each face has 10 votes over ``VOTE_COLUMNS`` (8 emotions, ``unknown``, ``NF``). Faces whose
plurality vote is ``unknown`` or ``NF`` (or that have no emotion vote at all) are dropped and
counted in `FerPlusSplit.dropped`; the remaining votes are renormalised over the 8 emotions
(Barsoum et al., 2016). Plurality ties are broken towards the lower column index, so a tie
between an emotion and ``unknown``/``NF`` keeps the face.

Decoding ~32k PNGs takes tens of seconds, so the decoded arrays of each split go through
`bnnfer.data.cache`. The votes' statistics live in `bnnfer.data.votes`, the split itself in
`bnnfer.data.split`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .. import settings
from ..constants import (
    CROWD_ANNOTATIONS_CSV,
    CROWD_SPLIT,
    CROWD_VOTES_CSV,
    EMOTIONS,
    IMAGE_SIZE,
    NUM_CLASSES,
    NUM_VOTE_COLUMNS,
    SPLIT_FOLDERS,
    SPLIT_USAGE,
    SPLITS,
    VOTE_COLUMNS,
)
from .cache import default_cache_dir, fingerprint, folder_fingerprint, load_cache, save_cache
from .crowd import load_crowd, no_face_text
from .split import FerPlusError, FerPlusSplit
from .votes import (
    SEVERAL_ANNOTATORS_NOTE,
    filter_emotion_faces,
    human_statistics,
    single_annotator,
)

KAGGLE_PIXELS_CSV = "fer2013.csv"
KAGGLE_VOTES_CSV = "fer2013new.csv"
_NAME_DTYPE = "<U32"


# --------------------------------------------------------------------------------------
# where the data is, and which layout it has


def resolve_data_dir(data: str | os.PathLike[str] | None = None) -> Path:
    """The FER+ folder: ``data`` if given, else `bnnfer.settings.data_dir` (``$BNNFER_DATA``,
    else ``./data/ferplus``)."""
    if data is not None and str(data) != "":
        return Path(data).expanduser()
    return settings.data_dir()


def detect_layout(root: Path) -> str:
    """``"folders"``, ``"kaggle"`` or ``"crowd"`` (your own faces: ``votes.csv`` or
    ``annotations.csv`` and the images); a `FerPlusError` that says what was looked for
    otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise FerPlusError(
            root,
            "no such folder; point --data or BNNFER_DATA at a FER+ copy holding "
            f"{'/'.join(SPLIT_FOLDERS.values())} folders (each with label.csv and PNGs), "
            f"or {KAGGLE_PIXELS_CSV} beside {KAGGLE_VOTES_CSV}, or at a folder of your own "
            f"faces with {CROWD_VOTES_CSV} or {CROWD_ANNOTATIONS_CSV}",
        )
    if any((root / folder).is_dir() for folder in SPLIT_FOLDERS.values()):
        return "folders"
    if (root / KAGGLE_PIXELS_CSV).is_file() and (root / KAGGLE_VOTES_CSV).is_file():
        return "kaggle"
    if (root / CROWD_VOTES_CSV).is_file() or (root / CROWD_ANNOTATIONS_CSV).is_file():
        return "crowd"
    raise FerPlusError(
        root,
        f"no FER+ data here: expected {', '.join(SPLIT_FOLDERS.values())} folder(s), "
        f"or {KAGGLE_PIXELS_CSV} together with {KAGGLE_VOTES_CSV}, or your own faces' "
        f"{CROWD_VOTES_CSV} or {CROWD_ANNOTATIONS_CSV} (docs/data.md)",
    )


def available_splits(root: str | os.PathLike[str]) -> list[str]:
    """The splits present under ``root``, in ``SPLITS`` order; ``["all"]`` for a folder of
    your own faces (``votes.csv`` or ``annotations.csv``)."""
    root = Path(root)
    layout = detect_layout(root)
    if layout == "crowd":
        return [CROWD_SPLIT]
    if layout == "folders":
        return [s for s in SPLITS if (root / SPLIT_FOLDERS[s] / "label.csv").is_file()]
    usages = set()
    with open(root / KAGGLE_VOTES_CSV, newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if row:
                usages.add(row[0].strip())
    return [s for s in SPLITS if SPLIT_USAGE[s] in usages]


# --------------------------------------------------------------------------------------
# parsing


def _parse_counts(path: Path, row_number: int, cells: Sequence[str]) -> list[int]:
    counts = []
    for column, cell in zip(VOTE_COLUMNS, cells, strict=True):
        try:
            value = int(cell.strip())
        except ValueError:
            raise FerPlusError(
                path, f"vote column '{column}' is {cell!r}, expected a whole number", row_number
            ) from None
        if value < 0:
            raise FerPlusError(
                path, f"vote column '{column}' is {value}, expected a count >= 0", row_number
            )
        counts.append(value)
    return counts


def _read_label_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Names and votes ``(N, 10)`` of a FERPlus folder's ``label.csv``."""
    if not path.is_file():
        raise FerPlusError(path, "label file is missing")
    names: list[str] = []
    votes: list[list[int]] = []
    seen: dict[str, int] = {}
    with open(path, newline="") as f:
        for row_number, row in enumerate(csv.reader(f), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2 + NUM_VOTE_COLUMNS:
                raise FerPlusError(
                    path,
                    f"has {len(row)} columns, expected {2 + NUM_VOTE_COLUMNS}: image name, "
                    f"face box, then counts for {', '.join(VOTE_COLUMNS)} (no header row)",
                    row_number,
                )
            name = row[0].strip()
            if not name.lower().endswith(".png") or "/" in name or "\\" in name:
                raise FerPlusError(
                    path,
                    f"image name {name!r} is not a PNG file name like fer0000000.png",
                    row_number,
                )
            if name in seen:
                raise FerPlusError(
                    path, f"image name {name!r} repeats row {seen[name]}", row_number
                )
            seen[name] = row_number
            votes.append(_parse_counts(path, row_number, row[2:]))
            names.append(name)
    if not names:
        raise FerPlusError(path, "label file has no rows")
    return names, np.asarray(votes, dtype=np.int64).reshape(-1, NUM_VOTE_COLUMNS)


def _decode_png(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FerPlusError(path, "image listed in label.csv is missing")
    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
            array = np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise FerPlusError(path, f"cannot be decoded as an image ({error})") from None
    if size != (IMAGE_SIZE, IMAGE_SIZE):
        raise FerPlusError(
            path, f"image is {size[0]}x{size[1]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    return array


def _read_folder_split(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (unfiltered) images, votes and names of one FERPlus split folder."""
    names, votes = _read_label_csv(folder / "label.csv")
    # PIL releases the GIL while inflating, so a few threads help even on 2 cores.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        images = list(pool.map(_decode_png, (folder / name for name in names), chunksize=256))
    return np.stack(images), votes, np.asarray(names, dtype=_NAME_DTYPE)


def _read_kaggle(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Raw images, votes and names per split from ``fer2013.csv`` + ``fer2013new.csv``."""
    pixels_path, votes_path = root / KAGGLE_PIXELS_CSV, root / KAGGLE_VOTES_CSV
    usage_to_split = {usage: split for split, usage in SPLIT_USAGE.items()}
    rows: dict[str, tuple[list[np.ndarray], list[list[int]], list[str]]] = {
        s: ([], [], []) for s in SPLITS
    }
    with open(pixels_path, newline="") as fp, open(votes_path, newline="") as fv:
        pixel_rows, vote_rows = csv.reader(fp), csv.reader(fv)
        pixel_header, vote_header = next(pixel_rows, None), next(vote_rows, None)
        if not pixel_header or [c.strip() for c in pixel_header] != ["emotion", "pixels", "Usage"]:
            raise FerPlusError(
                pixels_path, f"header is {pixel_header}, expected ['emotion', 'pixels', 'Usage']", 1
            )
        if not vote_header or len(vote_header) != 2 + NUM_VOTE_COLUMNS:
            raise FerPlusError(
                votes_path,
                f"header is {vote_header}, expected Usage, Image name and the "
                f"{NUM_VOTE_COLUMNS} vote columns",
                1,
            )
        row_number = 1
        seen: set[str] = set()
        while True:
            pixel_row, vote_row = next(pixel_rows, None), next(vote_rows, None)
            row_number += 1
            if pixel_row is None and vote_row is None:
                break
            if pixel_row is None or vote_row is None:
                shorter = pixels_path if pixel_row is None else votes_path
                raise FerPlusError(
                    shorter,
                    "ends before the other file: the two CSVs must have the same rows "
                    "in the same order",
                    row_number,
                )
            if len(vote_row) != 2 + NUM_VOTE_COLUMNS:
                raise FerPlusError(
                    votes_path,
                    f"has {len(vote_row)} columns, expected {2 + NUM_VOTE_COLUMNS}",
                    row_number,
                )
            name = vote_row[1].strip()
            if not name:  # excluded by FER+ itself
                continue
            if len(pixel_row) != 3:
                raise FerPlusError(
                    pixels_path, f"has {len(pixel_row)} columns, expected 3", row_number
                )
            usage = vote_row[0].strip()
            if usage not in usage_to_split:
                raise FerPlusError(
                    votes_path,
                    f"Usage is {usage!r}, expected one of {sorted(usage_to_split)}",
                    row_number,
                )
            if pixel_row[2].strip() != usage:
                raise FerPlusError(
                    pixels_path,
                    f"Usage is {pixel_row[2].strip()!r} but {KAGGLE_VOTES_CSV} says {usage!r}: "
                    "the rows of the two files are out of step",
                    row_number,
                )
            if name in seen:
                raise FerPlusError(votes_path, f"image name {name!r} repeats", row_number)
            seen.add(name)
            try:
                image = np.array(pixel_row[1].split(), dtype=np.int64)
            except ValueError:
                raise FerPlusError(
                    pixels_path, "pixels hold something other than whole numbers", row_number
                ) from None
            if image.size != IMAGE_SIZE * IMAGE_SIZE or image.min() < 0 or image.max() > 255:
                raise FerPlusError(
                    pixels_path,
                    f"pixels hold {image.size} values, expected {IMAGE_SIZE * IMAGE_SIZE} "
                    "numbers in 0..255",
                    row_number,
                )
            split_rows = rows[usage_to_split[usage]]
            split_rows[0].append(image.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            split_rows[1].append(_parse_counts(votes_path, row_number, vote_row[2:]))
            split_rows[2].append(name)
    return {
        split: (
            np.stack(images),
            np.asarray(votes, dtype=np.int64),
            np.asarray(names, dtype=_NAME_DTYPE),
        )
        for split, (images, votes, names) in rows.items()
        if images
    }


# --------------------------------------------------------------------------------------
# the entry point


def _filtered(split: str, raw: tuple[np.ndarray, np.ndarray, np.ndarray]) -> FerPlusSplit:
    images, votes, names = raw
    keep, dropped = filter_emotion_faces(votes)
    return FerPlusSplit(
        split=split, images=images[keep], votes=votes[keep], names=names[keep], dropped=dropped
    )


def load_ferplus(
    data: str | os.PathLike[str] | None = None,
    splits: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    detect: bool = True,
) -> dict[str, FerPlusSplit]:
    """Load FER+ splits from either layout, or your own faces, through the decoded-array cache.

    Args:
        data: the FER+ folder (see `resolve_data_dir` for the default), or a folder of your
            own annotated faces (``votes.csv`` or ``annotations.csv`` and the images:
            `bnnfer.data.crowd`).
        splits: which of ``"train"``, ``"valid"``, ``"test"`` (``"all"`` for your own
            faces); default every split present. Asking for an absent split raises
            `FerPlusError` naming where it looked.
        cache_dir: where the ``.npz`` caches go; None for `default_cache_dir`, False for none.
        detect: for your own faces only: find the face in each image that is not already
            48x48 grayscale (MTCNN, FER's framing); False resizes the whole image instead.

    Returns:
        ``{split: FerPlusSplit}`` in the order asked for.
    """
    root = resolve_data_dir(data)
    layout = detect_layout(root)
    present = available_splits(root)
    wanted = list(splits) if splits is not None else present
    annotated = (root / CROWD_ANNOTATIONS_CSV).is_file()
    crowd_file = CROWD_ANNOTATIONS_CSV if annotated else CROWD_VOTES_CSV
    for split in wanted:
        if split not in (*SPLITS, CROWD_SPLIT):
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} or 'all'")
        if split not in present:
            where = {
                "folders": root / SPLIT_FOLDERS[split] / "label.csv" if split in SPLITS else root,
                "kaggle": root / KAGGLE_VOTES_CSV,
                "crowd": root / crowd_file,
            }[layout]
            raise FerPlusError(
                where,
                f"split {split!r} is not here (present: {', '.join(present) or 'none'})",
            )
    cache_root = None if cache_dir is False else Path(cache_dir or default_cache_dir())
    if layout == "crowd":
        return {CROWD_SPLIT: load_crowd(root, cache_root, detect)} if wanted else {}

    if layout == "kaggle":
        key = fingerprint([root / KAGGLE_PIXELS_CSV, root / KAGGLE_VOTES_CSV])
        raw_splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        cached = {
            s: load_cache(cache_root / f"ferplus-kaggle-{s}-{key}.npz") if cache_root else None
            for s in wanted
        }
        if all(c is not None for c in cached.values()):
            raw_splits = cached  # type: ignore[assignment]
        else:
            raw_splits = _read_kaggle(root)
            if cache_root:
                for s, arrays in raw_splits.items():
                    save_cache(cache_root / f"ferplus-kaggle-{s}-{key}.npz", *arrays)
        return {s: _filtered(s, raw_splits[s]) for s in wanted}

    result = {}
    for split in wanted:
        folder = root / SPLIT_FOLDERS[split]
        raw = None
        cache_path = None
        if cache_root:
            cache_path = cache_root / f"ferplus-{split}-{folder_fingerprint(folder)}.npz"
            raw = load_cache(cache_path)
        if raw is None:
            raw = _read_folder_split(folder)
            if cache_path is not None:
                save_cache(cache_path, *raw)
        result[split] = _filtered(split, raw)
    return result


def describe(split: FerPlusSplit) -> dict[str, object]:
    """A JSON-able summary of one split: counts, dropped faces, class balance, human stats.

    Where every face has a single vote (`single_annotator`) the agreement statistics (mean
    vote entropy, agreement, unanimous share) are None and ``"note"`` says why; where face
    detection found no face in some images, ``"no_face_detected"`` lists their names."""
    stats = human_statistics(split.votes)
    counts = np.bincount(stats["plurality"], minlength=NUM_CLASSES)
    single = single_annotator(split.votes)
    summary: dict[str, object] = {
        "split": split.split,
        "faces": len(split),
        "dropped": dict(split.dropped),
        "class_counts": {e: int(c) for e, c in zip(EMOTIONS, counts, strict=True)},
        "class_prior_accuracy": float(counts.max() / max(1, len(split))),
        "mean_vote_entropy": None if single else float(stats["entropy"].mean()),
        "mean_agreement": None if single else float(stats["agreement"].mean()),
        "unanimous_share": None if single else float(stats["unanimous"].mean()),
        "mean_valid_votes": float(stats["valid_votes"].mean()),
    }
    if single:
        summary["note"] = f"one vote per face: vote entropy and agreement {SEVERAL_ANNOTATORS_NOTE}"
    if "no_face_detected" in split.dropped:
        summary["no_face_detected"] = list(split.no_face_detected)
    return summary


def summary_text(summary: dict[str, object]) -> str:
    """`describe`'s summary of one split as the lines ``bnnfer data info`` prints."""
    dropped = summary["dropped"]
    undetected = (
        f", no face detected {dropped['no_face_detected']}" if "no_face_detected" in dropped else ""
    )
    lines = [
        f"{summary['split']}: {summary['faces']} faces kept, {sum(dropped.values())} dropped "
        f"(plurality unknown {dropped['unknown']}, NF {dropped['NF']}, "
        f"no emotion vote {dropped['no_emotion_votes']}{undetected})"
    ]
    if summary.get("no_face_detected"):
        lines.append(f"  {no_face_text(summary['no_face_detected'])}")
    total = max(1, summary["faces"])
    for emotion in EMOTIONS:
        count = summary["class_counts"][emotion]
        lines.append(f"  {emotion:<10} {count:>6}  {100 * count / total:5.1f}%")
    agreement = (
        f"{summary['note']}"
        if summary["mean_vote_entropy"] is None
        else f"mean vote entropy {summary['mean_vote_entropy']:.3f} nats, mean agreement "
        f"{summary['mean_agreement']:.3f}, unanimous {100 * summary['unanimous_share']:.1f}%"
    )
    lines.append(
        f"  {agreement}, mean emotion votes {summary['mean_valid_votes']:.2f}, "
        f"class-prior accuracy {100 * summary['class_prior_accuracy']:.1f}%"
    )
    return "\n".join(lines)
