"""Small synthetic FER+ copies in either layout, for tests that must not need the real data.

The faces are random noise with a class-dependent brightness pattern; the votes are drawn so
that every drop rule of `bnnfer.data` is exercised (unknown and NF pluralities, a face with no
emotion vote, ties between an emotion and unknown).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from bnnfer.constants import NUM_VOTE_COLUMNS, SPLIT_FOLDERS, SPLIT_USAGE, SPLITS

FIRST_INDEX = {"train": 0, "valid": 28638, "test": 32220}


def make_split(split: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Raw images uint8 (n, 48, 48), votes int (n, 10) and names for one split.

    Rows 0-3 are special: 0 has an ``unknown`` plurality, 1 an ``NF`` plurality, 2 no emotion
    vote at all (5 unknown, 5 NF), 3 a 4/4 tie between happiness and unknown (kept, since
    ties go to the lower index).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, n)
    images = rng.integers(0, 256, (n, 48, 48)).astype(np.uint8)
    # a class-dependent bright square so that a network has something to learn
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, 4 + row * 20 : 16 + row * 20, 2 + col * 11 : 11 + col * 11] = 255
    votes = np.zeros((n, NUM_VOTE_COLUMNS), dtype=np.int64)
    for i, label in enumerate(labels):
        top = int(rng.integers(5, 11))
        votes[i, label] = top
        others = rng.integers(0, NUM_VOTE_COLUMNS - 2, 10 - top)
        np.add.at(votes[i], others, 1)
    if n >= 4:
        votes[0] = [1, 0, 0, 0, 0, 0, 0, 0, 8, 1]  # unknown plurality
        votes[1] = [0, 2, 0, 0, 0, 0, 0, 0, 1, 7]  # NF plurality
        votes[2] = [0, 0, 0, 0, 0, 0, 0, 0, 5, 5]  # no emotion vote
        votes[3] = [0, 4, 0, 0, 0, 0, 2, 0, 4, 0]  # tie happiness/unknown: kept
    names = [f"fer{FIRST_INDEX[split] + i:07d}.png" for i in range(n)]
    return images, votes, names


def write_folder_layout(root: Path, sizes: dict[str, int], seed: int = 0) -> dict:
    """FERPlus folders under ``root``; returns ``{split: (images, votes, names)}``."""
    made = {}
    for k, (split, n) in enumerate(sizes.items()):
        images, votes, names = make_split(split, n, seed + k)
        folder = root / SPLIT_FOLDERS[split]
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "label.csv", "w", newline="") as f:
            writer = csv.writer(f)
            for name, row in zip(names, votes, strict=True):
                writer.writerow([name, "(0, 0, 48, 48)", *row.tolist()])
        for name, image in zip(names, images, strict=True):
            Image.fromarray(image, mode="L").save(folder / name)
        made[split] = (images, votes, names)
    return made


def write_kaggle_layout(root: Path, made: dict, excluded_rows: int = 2) -> None:
    """``fer2013.csv`` + ``fer2013new.csv`` holding the same faces as ``made``.

    ``excluded_rows`` extra rows per split get an empty image name, as FER+ leaves the faces
    it excluded; the reader must skip them.
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(123)
    with (
        open(root / "fer2013.csv", "w", newline="") as fp,
        open(root / "fer2013new.csv", "w", newline="") as fv,
    ):
        pixels, votes_csv = csv.writer(fp), csv.writer(fv)
        pixels.writerow(["emotion", "pixels", "Usage"])
        votes_csv.writerow(
            [
                "Usage",
                "Image name",
                "neutral",
                "happiness",
                "surprise",
                "sadness",
                "anger",
                "disgust",
                "fear",
                "contempt",
                "unknown",
                "NF",
            ]
        )
        for split in SPLITS:
            if split not in made:
                continue
            images, votes, names = made[split]
            usage = SPLIT_USAGE[split]
            for image, row, name in zip(images, votes, names, strict=True):
                pixels.writerow([0, " ".join(map(str, image.ravel().tolist())), usage])
                votes_csv.writerow([usage, name, *row.tolist()])
            for _ in range(excluded_rows):
                junk = rng.integers(0, 256, 48 * 48)
                pixels.writerow([0, " ".join(map(str, junk.tolist())), usage])
                votes_csv.writerow([usage, "", *([0] * 10)])
