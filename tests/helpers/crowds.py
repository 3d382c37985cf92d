"""A simulated crowd with known annotators (careful, sloppy, answering at random) and a folder
of synthetic faces with its annotations.csv: the annotator tests, the Annotators page's AppTest
and the browser test share them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnnfer.constants import NUM_CLASSES, VOTE_COLUMNS
from bnnfer.data.split import Annotations
from bnnfer.evaluation import annotators

needs_crowd_kit = pytest.mark.skipif(
    not annotators.crowd_kit_available(),
    reason=f"crowd-kit is not installed ({annotators.CROWD_KIT_HINT}): no Dawid–Skene",
)

ACCURACY = {"careful": 0.9, "sloppy": 0.55, "random": 1 / NUM_CLASSES}
PEOPLE = ["careful1", "careful2", "careful3", "sloppy1", "sloppy2", "sloppy3", "random"]


def confusion(accuracy: float) -> np.ndarray:
    """``(8, 8)``: the true emotion given with ``accuracy``, any other with equal chance."""
    off = (1 - accuracy) / (NUM_CLASSES - 1)
    return np.full((NUM_CLASSES, NUM_CLASSES), off) + np.eye(NUM_CLASSES) * (accuracy - off)


def kind(name: str) -> str:
    """The kind of annotator a name in `PEOPLE` is: its letters without the number."""
    return name.rstrip("0123456789")


def simulate(faces: int = 1200, per_face: int = 5, seed: int = 0):
    """A crowd of `PEOPLE` answering from their known confusion matrices: each face's true
    emotion (a skewed prior) and ``per_face`` of the annotators, drawn at random. Returns
    ``(annotations, votes (N, 10), truth (N,), true confusion by name)``."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.3, 0.2, 0.12, 0.1, 0.1, 0.06, 0.06, 0.06])
    truth = rng.choice(NUM_CLASSES, faces, p=prior)
    matrices = {name: confusion(ACCURACY[kind(name)]) for name in PEOPLE}
    face, annotator, answer = [], [], []
    for i, t in enumerate(truth):
        for a in rng.choice(len(PEOPLE), per_face, replace=False):
            face.append(i)
            annotator.append(a)
            answer.append(rng.choice(NUM_CLASSES, p=matrices[PEOPLE[a]][t]))
    annotations = Annotations(tuple(PEOPLE), *map(np.asarray, (face, annotator, answer)), faces)
    return annotations, annotations.counts(), truth, matrices


FACES = 40


def write_annotated_folder(root: Path, faces: int = FACES, seed: int = 0) -> Path:
    """Synthetic 48x48 grayscale faces (noise) and an annotations.csv of the simulated crowd."""
    annotations, _, _, _ = simulate(faces, seed=seed)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(faces):
        pixels = rng.integers(0, 256, (48, 48)).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(root / f"face{i:03d}.png")
    with open(root / "annotations.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "annotator", "emotion"])
        for face, who, answer in zip(
            annotations.face, annotations.annotator, annotations.answer, strict=True
        ):
            writer.writerow([f"face{face:03d}.png", PEOPLE[who], VOTE_COLUMNS[answer]])
    return root
