"""The evaluation runner: every method's samples ``(S, N, C)`` drawn on one split
(`draw_samples`), reduced once to per-face quantities and scored with the registry's metrics,
bootstrap intervals, the paired differences, the human baselines and the annotators
(`score_samples`), into one `Evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.split import FerPlusSplit
from ..data.votes import barsoum_majority
from ..inference.mc import mc_predict
from ..models.methods import Method, placements
from . import annotators, baselines
from .registry import (
    METRICS,
    NOT_COMPUTED,
    PAIRED_METRICS,
    REFERENCE,
    not_computable,
    paired_difference,
    per_face,
    summarise,
)


@dataclass
class Evaluation:
    """What `evaluate_methods` found: per method key its samples and metric intervals."""

    split: str
    names: np.ndarray  # (N,)
    votes: np.ndarray  # (N, 10)
    samples: dict[str, np.ndarray]  # key -> (S, N, C) float32
    table: dict[str, dict[str, tuple[float, float, float]]]  # key -> metric -> (value, lo, hi)
    # key -> metric -> (metric(key) - metric(classical), lo, hi), paired; empty without classical
    paired: dict[str, dict[str, tuple[float, float, float]]]
    labels: dict[str, str]  # key -> display label
    settings: dict[str, Any]
    # the rows among the annotators (bnnfer.evaluation.baselines); None where no face has two votes
    human: baselines.Baselines | None = None
    # each annotator and row scored (bnnfer.evaluation.annotators); None where the votes have
    # no names
    annotators: annotators.AnnotatorScores | None = None


def draw_samples(
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    samples: int = 30,
    seed: int = 0,
    precision: str = "fp32",
    progress: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Every method's samples ``{key: (S, N, C)}`` on ``split``'s images: MC methods draw
    ``samples``, an ensemble one per member, a classical method one."""
    drawn: dict[str, np.ndarray] = {}
    for key, method in methods.items():
        if progress is not None:
            progress(f"predicting {key} on {len(split)} {split.split} faces")
        draws = samples if method.sampled else None  # else 1 or M, fixed
        drawn[key] = mc_predict(
            method, split.images, samples=draws, seed=seed, precision=precision
        ).numpy()
    return drawn


def evaluate_methods(
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    samples: int = 30,
    seed: int = 0,
    n_boot: int = 1000,
    labels: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    precision: str = "fp32",
    added: Mapping[str, np.ndarray] | None = None,
    reference: str = "votes",
) -> Evaluation:
    """Run every method on ``split`` and compute `METRICS` with 95% bootstrap intervals.

    Args:
        methods: ``{key: Method}``; MC methods draw ``samples`` samples, ensembles one per
            member, classical ones a single one.
        added: rows whose samples ``(S, N, C)`` were made elsewhere
            (`bnnfer.evaluation.external`), scored beside the methods'.
        n_boot: bootstrap resamples per metric (the same image resamples for every method, so
            the intervals of two methods are comparable).
        reference: what the metrics against people are measured against (`score_samples`).
    """
    drawn = draw_samples(methods, split, samples, seed, precision, progress)
    # placements: which stochastic layers each MC row sampled
    # (bnnfer.models.networks.with_placement)
    settings = {
        "samples": samples,
        "seed": seed,
        "precision": precision,
        "placements": placements(methods),
    }
    if added:
        drawn.update(added)
        labels = {**(labels or {k: k for k in methods}), **{k: k for k in added}}
    return score_samples(drawn, split, n_boot, seed, labels, settings, reference)


def score_samples(
    drawn: Mapping[str, np.ndarray],
    split: FerPlusSplit,
    n_boot: int = 1000,
    seed: int = 0,
    labels: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    reference: str = "votes",
) -> Evaluation:
    """`METRICS` with 95% bootstrap intervals, and the paired differences from the classical
    row, of samples ``{key: (S, N, C)}`` already drawn for the faces of ``split`` (bnnfer's
    rows, or a model's predictions read from a file). ``settings`` are recorded as they are,
    beside the face counts. The metrics against people read the vote distribution, or with
    ``reference="dawid-skene"`` the Dawid–Skene posterior
    (`bnnfer.evaluation.annotators.read_crowd`); where the votes have their annotators' names, each
    annotator and row is scored."""
    crowd = annotators.read_crowd(split, reference)
    votes_dist = crowd.distribution
    plurality = split.labels
    majority, _ = barsoum_majority(split.votes)
    skipped = not_computable(split.votes)
    faces = {key: per_face(array, plurality, votes_dist, majority) for key, array in drawn.items()}
    table = {
        key: {
            name: NOT_COMPUTED if name in skipped else summarise(metric, faces[key], n_boot, seed)
            for name, metric in METRICS.items()
        }
        for key in faces
    }
    paired = {
        key: {
            name: NOT_COMPUTED
            if name in skipped
            else paired_difference(METRICS[name], faces[key], faces[REFERENCE], n_boot, seed)
            for name in PAIRED_METRICS
        }
        for key in faces
        if REFERENCE in faces and key != REFERENCE
    }
    # recorded only where they apply, so that FER+'s documents stay as they were
    notes: dict[str, Any] = {}
    if skipped:
        notes["single_annotator"] = True
    if split.no_face_detected:
        notes["no_face_detected"] = list(split.no_face_detected)
    if reference != "votes":
        notes["reference"] = reference
    several = split.votes.sum(axis=1).max() >= 2  # a crowd to place the rows in
    human = (
        baselines.human_baselines(
            split.votes, {key: f.probs for key, f in faces.items()}, n_boot, seed
        )
        if several
        else None
    )
    return Evaluation(
        split=split.split,
        names=split.names,
        votes=split.votes,
        samples=dict(drawn),
        table=table,
        paired=paired,
        labels=dict(labels or {k: k for k in drawn}),
        settings={
            **(settings or {}),
            "n_boot": n_boot,
            "faces": len(split),
            # the FER+ papers' protocol scores accuracy on this subset only
            "faces_majority": int(majority.sum()),
            # names and pixels: a reader tells these faces from others of the same names
            "faces_digest": split.faces_digest,
            **notes,
        },
        human=human,
        annotators=annotators.score_split(
            split, {key: f.probs for key, f in faces.items()}, labels, n_boot, seed, crowd
        ),
    )
