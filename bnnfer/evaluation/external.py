"""Predictions made outside bnnfer, read as a row beside the bundled ones.

A researcher's own model is compared with the people the same way as bnnfer's rows once its
predictions for the split's faces are in a file:

* **CSV**: a ``name`` column (the face's image name) and one column per FER+ emotion, in any
  order, holding probabilities that sum to 1 per row; or the same columns prefixed ``logit_``
  (``logit_neutral``, ...), which are softmaxed. One prediction per face: ``(1, N, C)``.
* **NPZ**: ``names`` ``(N,)`` and either ``probs`` ``(N, C)`` or ``samples`` ``(S, N, C)``
  (MC samples or ensemble members: the row then gets the uncertainty split).

`read_predictions_file` checks everything a file can get wrong and raises `PredictionsFileError`
naming the file, the row and what was expected. Its result is aligned to the split's faces; a
file covering only some of them is refused unless ``allow_partial``, and then says which.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import EMOTIONS
from ..data.split import FerPlusSplit
from .metrics import SUM_TOLERANCE

LOGIT_PREFIX = "logit_"


class PredictionsFileError(ValueError):
    """A predictions file that cannot be used; the message names the file, row and fix."""


@dataclass(frozen=True)
class ExternalRow:
    """A file's predictions for the faces it shares with the split.

    Attributes:
        samples: float32 ``(S, M, C)`` for the shared faces, in the split's order.
        index: ``(M,)`` the shared faces' positions in the split.
        missing: how many of the split's faces the file lacks; extra: how many of its faces
            the split lacks.
    """

    samples: np.ndarray
    index: np.ndarray
    missing: int
    extra: int


def _fail(path: Path, what: str, row: int | None = None) -> PredictionsFileError:
    where = str(path) if row is None else f"{path}, row {row}"
    return PredictionsFileError(f"{where}: {what}")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _read_csv(path: Path, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(names (N,), probabilities (1, N, C))`` of a CSV file's bytes (``path`` names it)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(path, "not a UTF-8 text file") from None
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise _fail(path, "empty file; expected a header: name," + ",".join(EMOTIONS))
        header = [h.strip() for h in header]
        if "name" not in header:
            raise _fail(path, f"no 'name' column; the header is {header}")
        logits = any(h.startswith(LOGIT_PREFIX) for h in header)
        wanted = [f"{LOGIT_PREFIX}{e}" if logits else e for e in EMOTIONS]
        missing = [w for w in wanted if w not in header]
        extra = [h for h in header if h != "name" and h not in wanted]
        if missing or extra:
            raise _fail(
                path,
                f"columns must be 'name' and the 8 FER+ emotions ({', '.join(wanted)}); "
                f"missing {missing}, unexpected {extra}",
            )
        columns = [header.index(w) for w in wanted]
        names, values = [], []
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise _fail(path, f"{len(cells)} cells, the header has {len(header)}", number)
            try:
                values.append([float(cells[c]) for c in columns])
            except ValueError:
                raise _fail(path, "a value is not a number", number) from None
            names.append(cells[header.index("name")].strip())
    array = np.asarray(values, dtype=np.float64).reshape(-1, len(EMOTIONS))
    if logits:
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise _fail(path, "logits contain NaN or inf", int(np.argmax(bad)) + 2)
        array = _softmax(array)
    return np.asarray(names), array[None]


def _read_npz(path: Path, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(names (N,), samples (S, N, C))`` of an NPZ file's bytes (``path`` names it)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _fail(path, f"not a readable .npz file ({error})") from None
    if "names" not in arrays or ("probs" in arrays) == ("samples" in arrays):
        raise _fail(
            path,
            "expected 'names' and one of 'probs' (N, C) or 'samples' (S, N, C); "
            f"it holds {sorted(arrays)}",
        )
    names = arrays["names"].astype(str)
    if "probs" in arrays:
        array = arrays["probs"][None]
        if arrays["probs"].ndim != 2:
            raise _fail(path, f"'probs' must be (N, C), got shape {arrays['probs'].shape}")
    else:
        array = arrays["samples"]
        if array.ndim != 3:
            raise _fail(path, f"'samples' must be (S, N, C), got shape {array.shape}")
    if names.ndim != 1 or array.shape[1] != len(names):
        raise _fail(path, f"{len(names)} names for {array.shape[1]} faces")
    if array.shape[2] != len(EMOTIONS):
        raise _fail(
            path, f"{array.shape[2]} classes; expected the 8 FER+ emotions ({', '.join(EMOTIONS)})"
        )
    return names, array.astype(np.float64)


def read_predictions_file(
    path: str | os.PathLike[str], names: np.ndarray, allow_partial: bool = False
) -> ExternalRow:
    """A CSV or NPZ file of predictions (see the module docstring) aligned to the faces
    ``names`` of a split.

    Raises `PredictionsFileError` for: an unknown suffix; missing, extra or misnamed columns (a
    class list other than FER+'s 8 emotions); values that are not numbers, NaN, negative, or
    rows that do not sum to 1 (within 1e-3); duplicate names; and, unless ``allow_partial``,
    names the split lacks or split faces the file lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    return read_predictions(path.read_bytes(), path.name, names, allow_partial, path)


def read_predictions(
    data: bytes,
    filename: str,
    names: np.ndarray,
    allow_partial: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> ExternalRow:
    """`read_predictions_file` of a file's bytes (an upload): ``filename``'s suffix says the
    format, and errors name ``path`` (default ``filename``)."""
    path = Path(path if path is not None else filename)
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        file_names, probs = _read_csv(path, data)
        first = 2  # the first data row's line number
    elif suffix == ".npz":
        file_names, probs = _read_npz(path, data)
        first = 0  # rows are counted from 0 in an array
    else:
        raise _fail(path, f"unknown format {suffix!r}; expected .csv or .npz")
    if len(file_names) == 0:
        raise _fail(path, "no predictions in the file")
    bad = ~np.isfinite(probs).all(axis=(0, 2))
    if bad.any():
        raise _fail(path, "NaN or inf among the probabilities", int(np.argmax(bad)) + first)
    bad = (probs < 0).any(axis=(0, 2))
    if bad.any():
        raise _fail(path, "negative probabilities", int(np.argmax(bad)) + first)
    sums = probs.sum(axis=2)
    bad = (np.abs(sums - 1.0) > SUM_TOLERANCE).any(axis=0)
    if bad.any():
        row = int(np.argmax(bad))
        worst = float(sums[:, row][np.argmax(np.abs(sums[:, row] - 1.0))])
        raise _fail(path, f"probabilities sum to {worst:.4f}, not 1", row + first)
    unique, counts = np.unique(file_names, return_counts=True)
    if (counts > 1).any():
        raise _fail(path, f"name {unique[np.argmax(counts > 1)]!r} appears more than once")
    position = {name: i for i, name in enumerate(file_names)}
    split_names = np.asarray(names).astype(str)
    index = np.array([i for i, n in enumerate(split_names) if n in position], dtype=np.int64)
    missing = len(split_names) - len(index)
    extra = len(file_names) - len(index)
    if (missing or extra) and not allow_partial:
        example = (
            f"e.g. {split_names[np.setdiff1d(np.arange(len(split_names)), index)[0]]!r} "
            "has no prediction"
            if missing
            else f"e.g. {sorted(set(file_names) - set(split_names))[0]!r} is not in the split"
        )
        raise _fail(
            path,
            f"covers {len(index)} of the split's {len(split_names)} faces ({missing} missing, "
            f"{extra} not in the split; {example}); pass --allow-partial to evaluate on the "
            "faces both hold",
        )
    if len(index) == 0:
        raise _fail(path, "none of its names is a face of the split")
    order = np.array([position[n] for n in split_names[index]], dtype=np.int64)
    samples = probs[:, order] / probs[:, order].sum(axis=2, keepdims=True)
    return ExternalRow(samples.astype(np.float32), index, missing, extra)


def shared_faces(
    rows: Mapping[str, ExternalRow], faces: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(common, {key: samples (S, M, C)})``: the positions of the ``M`` faces (of a split of
    ``faces``) that every row covers, and each row's samples on exactly those faces. Raises
    `PredictionsFileError` when they share none."""
    common = np.arange(faces)
    for row in rows.values():
        common = np.intersect1d(common, row.index)
    if len(common) == 0:
        raise PredictionsFileError("the added files share no face of the split")
    return common, {k: r.samples[:, np.searchsorted(r.index, common)] for k, r in rows.items()}


def added_rows(
    split: FerPlusSplit, specs: Sequence[str], allow_partial: bool, taken: Iterable[str] = ()
) -> tuple[FerPlusSplit, dict[str, np.ndarray], str]:
    """``bnnfer evaluate --add LABEL=FILE``: the files' rows on the faces every file covers.

    Returns ``(split, {label: samples (S, M, C)}, note)``: ``split`` narrowed to the faces all
    files hold (the whole split when each covers it), the rows aligned to it, and a sentence
    saying how many faces were kept ("" when all). ``taken`` are the labels in use already.
    """
    files: dict[str, ExternalRow] = {}
    for spec in specs:
        label, _, file = spec.partition("=")
        if not label or not file:
            raise PredictionsFileError(f"--add {spec!r}: expected LABEL=FILE, e.g. mine=preds.csv")
        if label in files or label in set(taken):
            raise PredictionsFileError(f"--add {spec!r}: the label {label!r} is already in use")
        files[label] = read_predictions_file(file, split.names, allow_partial)
    if not files:
        return split, {}, ""
    common, rows = shared_faces(files, len(split))
    note = (
        ""
        if len(common) == len(split)
        else f"evaluating on the {len(common)} of {len(split)} {split.split} faces that every "
        "added file covers"
    )
    return split.subset(common), rows, note
