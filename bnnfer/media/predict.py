"""Predictions for faces in photos: every method on every face, and a reading in plain words.

`predict_faces` runs each method once over all the faces of a photo (one batch ``(F, 1, 48,
48)``), so a photo costs one forward pass per method however many faces it shows. Each face
gets, per method, the mean distribution ``(C,)``, the spread of the MC samples (standard
deviation per class), and the uncertainty scores. `reading` turns the methods' distributions
into a sentence: "the methods agree: happiness", "uncertain between surprise and fear", ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import EMOTIONS
from ..evaluation import metrics
from ..inference.mc import mc_predict
from ..models.methods import Method
from .faces import MAX_FACES, Detection, decode_photo, detect_faces

AMBIGUOUS_RATIO = 0.6  # a runner-up holding >= 60% of the top class's probability is a contender


@dataclass(frozen=True)
class MethodPrediction:
    """One method on one face."""

    samples: np.ndarray  # (S, C)
    mean: np.ndarray  # (C,)
    spread: np.ndarray  # (C,) standard deviation over the samples
    scores: dict[str, float]  # predictive/expected entropy, mutual information, ...

    @classmethod
    def of(cls, samples: np.ndarray) -> MethodPrediction:
        """One method's prediction of one face from its samples ``(S, C)`` (each renormalised
        in float64): their mean, spread and uncertainty scores."""
        array = np.asarray(samples, dtype=np.float64)
        array = array / array.sum(axis=1, keepdims=True)
        scores = metrics.uncertainty_scores(array[:, None])
        return cls(
            samples=array,
            mean=array.mean(axis=0),
            spread=array.std(axis=0),
            scores={name: float(values[0]) for name, values in scores.items()},
        )

    @property
    def top(self) -> str:
        return EMOTIONS[int(np.argmax(self.mean))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the top emotion, mean and spread per emotion and the uncertainty scores
        (4 decimals), and the number of samples."""
        return {
            "top": self.top,
            "mean": dict(zip(EMOTIONS, np.round(self.mean, 4).tolist(), strict=True)),
            "spread": dict(zip(EMOTIONS, np.round(self.spread, 4).tolist(), strict=True)),
            "uncertainty": {k: round(v, 4) for k, v in self.scores.items()},
            "samples": len(self.samples),
        }

    def describe(self, key: str) -> str:
        """One line for method ``key``: its three likeliest emotions with their spread, the
        predictive entropy and the mutual information (from the rounded `to_dict` figures)."""
        d = self.to_dict()
        top = sorted(d["mean"].items(), key=lambda kv: -kv[1])[:3]
        shown = ", ".join(f"{e} {v:.2f}±{d['spread'][e]:.2f}" for e, v in top)
        return (
            f"    {key:<16} {shown}  (entropy {d['uncertainty']['predictive_entropy']:.2f},"
            f" MI {d['uncertainty']['mutual_information']:.3f})"
        )


@dataclass(frozen=True)
class FacePrediction:
    box: tuple[float, float, float, float]
    probability: float
    crop: np.ndarray  # uint8 (48, 48)
    methods: dict[str, MethodPrediction]
    reading: str

    def to_dict(self, number: int) -> dict[str, Any]:
        """JSON-able, ``number`` being the face's 1-based place in its photo."""
        return {
            "face": number,
            "box": [round(v, 1) for v in self.box],
            "detector_probability": round(self.probability, 4),
            "reading": self.reading,
            "methods": {key: p.to_dict() for key, p in self.methods.items()},
        }

    def describe(self, number: int) -> str:
        """The face's box and reading, then a line per method (`MethodPrediction.describe`)."""
        box = [round(v, 1) for v in self.box]
        lines = [f"  face {number} at {box}: {self.reading}"]
        lines += [p.describe(key) for key, p in self.methods.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class PhotoPrediction:
    detection: Detection
    faces: list[FacePrediction]

    def to_dict(self, image: str | Path) -> dict[str, Any]:
        """JSON-able, ``image`` naming the photo (what ``bnnfer predict --json`` prints)."""
        return {
            "image": str(image),
            "size": list(self.detection.image.size),
            "faces": [face.to_dict(i) for i, face in enumerate(self.faces, start=1)],
            "faces_not_analysed": self.detection.dropped,
        }

    def describe(self, image: str | Path) -> str:
        """A summary in lines, ``image`` naming the photo (what ``bnnfer predict`` prints)."""
        dropped = self.detection.dropped
        lines = [
            f"{image}: {len(self.faces)} face(s) found"
            + (f", {dropped} more not analysed" if dropped else "")
        ]
        lines += [face.describe(i) for i, face in enumerate(self.faces, start=1)]
        return "\n".join(lines)


def predict_faces(
    methods: Mapping[str, Method],
    crops: np.ndarray,
    samples: int = 30,
    seed: int = 0,
    precision: str = "auto",
) -> list[dict[str, MethodPrediction]]:
    """Per face, per method key: its `MethodPrediction`. ``crops`` is uint8 ``(F, 48, 48)``."""
    per_face: list[dict[str, MethodPrediction]] = [{} for _ in range(len(crops))]
    if len(crops) == 0:
        return per_face
    for key, method in methods.items():
        draws = samples if method.sampled else None
        array = mc_predict(method, crops, samples=draws, seed=seed, precision=precision).numpy()
        for f in range(len(crops)):  # (S, F, C)
            per_face[f][key] = MethodPrediction.of(array[:, f])
    return per_face


def reading(predictions: Mapping[str, MethodPrediction]) -> str:
    """A sentence on what the methods make of one face."""
    if not predictions:
        return "no method was run"
    tops = {p.top for p in predictions.values()}
    average = np.mean([p.mean for p in predictions.values()], axis=0)
    order = np.argsort(average)[::-1]
    first, second = EMOTIONS[order[0]], EMOTIONS[order[1]]
    contenders = average[order[1]] >= AMBIGUOUS_RATIO * average[order[0]]
    if len(tops) > 1:
        return f"the methods disagree: {', '.join(sorted(tops))}"
    if contenders:
        return f"uncertain between {first} and {second}"
    if len(predictions) == 1:
        return f"{first} ({average[order[0]]:.0%})"
    return f"the methods agree: {first} ({average[order[0]]:.0%})"


def predict_photo(
    methods: Mapping[str, Method],
    data: bytes,
    samples: int = 30,
    seed: int = 0,
    max_faces: int = MAX_FACES,
    device: str = "cpu",
    precision: str = "auto",
) -> PhotoPrediction:
    """Decode a photo, find its faces, and run every method on them (one batch per method)."""
    detection = detect_faces(decode_photo(data), max_faces=max_faces, device=device)
    crops = (
        np.stack([face.crop for face in detection.faces])
        if detection.faces
        else np.empty((0, 48, 48), np.uint8)
    )
    per_face = predict_faces(methods, crops, samples=samples, seed=seed, precision=precision)
    faces = [
        FacePrediction(face.box, face.probability, face.crop, predictions, reading(predictions))
        for face, predictions in zip(detection.faces, per_face, strict=True)
    ]
    return PhotoPrediction(detection=detection, faces=faces)
