"""The votes of an annotations database out as dataset folders, and ``annotations.csv`` in.

`export_votes` writes one folder per dataset (``ferplus-valid``, ``folder-<digest>``,
``photos``; `bnnfer.annotations.datasets`) holding ``annotations.csv`` (one row per current
vote: ``name,annotator,emotion``, the layout `bnnfer.data.crowd.read_annotations` reads), beside it
``votes.csv`` (the same votes counted per face, for tools that want counts; `bnnfer.data.crowd`
checks the two agree), and a copy of each voted face's image where bnnfer has it: a FER+ face
from the FER+ folder (``data``), a face of your own folder from that folder (``folders``: the
folders to look in, matched by their digest). With the images, the folder is a dataset
``bnnfer evaluate --data FOLDER --split all`` reads, the annotators' names kept. Faces from
uploaded photos were never stored: they are named in ``faces-without-images.txt`` and
counted, as are faces whose image was not found. With ``anonymous`` the folder holds only
``votes.csv``: no annotator's name leaves the database.

`import_annotations` stores an ``annotations.csv`` in the database, in one transaction: it is
read by `bnnfer.data.crowd.read_annotations`, so a bad row is the same `FerPlusError` naming the
file and the row, and then nothing is stored.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..atomic import write_text_atomic
from ..constants import CROWD_ANNOTATIONS_CSV, CROWD_VOTES_CSV, VOTE_COLUMNS
from ..data.crowd import ANNOTATION_COLUMNS, read_annotations
from ..data.ferplus import SPLIT_FOLDERS, load_ferplus, resolve_data_dir
from . import datasets
from .database import Ballot, VoteStore

WITHOUT_IMAGES = "faces-without-images.txt"
IMPORT_STRATEGY = "import"  # the queue strategy recorded for imported votes


@dataclass(frozen=True)
class Exported:
    """One dataset written by `export_votes`: its ``folder``, the faces and votes in it, and
    the faces whose image could not be copied (``without_images``: names)."""

    dataset: str
    folder: Path
    faces: int
    votes: int
    without_images: tuple[str, ...]

    @property
    def evaluable(self) -> bool:
        """Whether every face has its image: ``bnnfer evaluate --data folder`` reads it."""
        return not self.without_images


def _ferplus_faces(dataset: str, data: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    """The faces of a FER+ split read from the Kaggle layout (FERPlus folders' PNGs are copied
    as files); {} where the folder holds no such split."""
    split = dataset[len(datasets.FERPLUS_PREFIX) :]
    try:
        faces = load_ferplus(data, splits=[split])[split]
    except (OSError, ValueError):  # FerPlusError is a ValueError: no FER+ here, no images
        return {}
    return {str(name): image for name, image in zip(faces.names, faces.images, strict=True)}


def _ferplus_folder(dataset: str, data: str | os.PathLike[str] | None) -> Path | None:
    """The FERPlus folder of a split's PNGs (every face, those FER+'s rule drops included)."""
    split = dataset[len(datasets.FERPLUS_PREFIX) :]
    folder = resolve_data_dir(data) / SPLIT_FOLDERS[split]
    return folder if folder.is_dir() else None


def _copy_images(
    dataset: str,
    names: list[str],
    folder: Path,
    data: str | os.PathLike[str] | None,
    sources: dict[str, Path],
) -> list[str]:
    """Copy each face's image into ``folder``; the names left without one."""
    missing = []
    source = sources.get(dataset)
    ferplus: dict[str, np.ndarray] = {}
    if dataset.startswith(datasets.FERPLUS_PREFIX):
        source = _ferplus_folder(dataset, data)
        ferplus = {} if source is not None else _ferplus_faces(dataset, data)
    for name in names:
        target = folder / name
        if source is not None and (source / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)
        elif name in ferplus:
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ferplus[name]).save(target)
        else:
            missing.append(name)
    return missing


def write_annotations_csv(votes: pd.DataFrame, path: Path) -> None:
    """``votes`` (a `VoteStore.votes` frame) as ``annotations.csv``: ``name,annotator,emotion``."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(ANNOTATION_COLUMNS)
    writer.writerows(zip(votes.face, votes.annotator, votes.emotion, strict=True))
    write_text_atomic(path, text.getvalue())


def write_votes_csv(votes: pd.DataFrame, path: Path) -> None:
    """``votes`` as ``votes.csv``: one row per face, its vote count per ``VOTE_COLUMNS``."""
    counts = pd.crosstab(votes.face, votes.emotion).reindex(columns=VOTE_COLUMNS, fill_value=0)
    order = list(dict.fromkeys(votes.face))
    write_text_atomic(path, counts.loc[order].rename_axis("name").reset_index().to_csv(index=False))


def export_votes(
    store: VoteStore,
    out: str | os.PathLike[str],
    dataset: str | None = None,
    data: str | os.PathLike[str] | None = None,
    folders: tuple[str | os.PathLike[str], ...] = (),
    anonymous: bool = False,
) -> list[Exported]:
    """Write each dataset of ``store`` (or only ``dataset``) under ``out`` (see the module's
    docstring). ``data`` is the FER+ folder (default: `bnnfer.data.ferplus.resolve_data_dir`);
    ``folders`` your own folders of images. ValueError where ``dataset`` holds no vote."""
    out = Path(out)
    wanted = [datasets.check_dataset(dataset)] if dataset else store.datasets()
    present = set(store.datasets())
    if dataset and dataset not in present:
        held = ", ".join(sorted(present)) or "none"
        raise ValueError(f"dataset {dataset!r} holds no vote in {store.where} (it holds: {held})")
    sources = {datasets.folder_dataset(folder): Path(folder) for folder in folders}
    written = []
    for name in wanted:
        votes = store.votes(name)
        folder = out / datasets.folder_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        faces = list(dict.fromkeys(votes.face))
        write_votes_csv(votes, folder / CROWD_VOTES_CSV)
        named = folder / CROWD_ANNOTATIONS_CSV
        if not anonymous:
            write_annotations_csv(votes, named)
        elif named.is_file():  # an earlier export's names, which votes.csv no longer matches
            named.unlink()
        missing = _copy_images(name, faces, folder, data, sources)
        if missing:
            write_text_atomic(folder / WITHOUT_IMAGES, "\n".join(missing) + "\n")
        written.append(Exported(name, folder, len(faces), len(votes), tuple(missing)))
    return written


def import_annotations(
    store: VoteStore, path: str | os.PathLike[str], dataset: str | None = None
) -> int:
    """Store the votes of an ``annotations.csv`` as ``dataset``'s (default: the digest of the
    folder it lies in, `bnnfer.annotations.datasets.folder_dataset`); returns how many."""
    path = Path(path)
    names, annotations, _ = read_annotations(path)
    dataset = datasets.check_dataset(dataset or datasets.folder_dataset(path.parent))
    ballots = [
        Ballot(
            dataset,
            names[face],
            annotations.annotators[annotator],
            VOTE_COLUMNS[answer],
            strategy=IMPORT_STRATEGY,
        )
        for face, annotator, answer in zip(
            annotations.face, annotations.annotator, annotations.answer, strict=True
        )
    ]
    store.cast_many(ballots)
    return len(ballots)
