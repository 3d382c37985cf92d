"""The prior choice applied to the bundled rows (`bnnfer.evaluation.priors` holds the mathematics):
what each row was trained toward, recorded beside the bundle; each row's fit on the bundled
evaluation of FER+ Valid; and the rows' samples read under a choice, for ``bnnfer evaluate``,
``predict`` and ``predict-video``.

``priors.json`` in the bundle folder records FER+ Train's plurality frequencies and vote
profiles (`bnnfer.evaluation.priors.vote_profiles`) and, per row, its training target and training
prior (`bnnfer.evaluation.priors.RowPrior.training`). `bnnfer.training.bundle.assemble_bundle`
writes it when given the Train split; `write_training_priors` writes it for a bundle assembled
before. The file is checked against the manifest when the manifest lists it (a bundle
assembled with it does).

The estimators' fits (`bnnfer.evaluation.priors.SourceFit`) come from the bundle's evaluation of
Valid (``predictions-valid.npz`` beside ``metrics.json``, tied to the bundle by its manifest
digest): `shipped_source_fits`. No pixels are read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic
from ..constants import EMOTIONS
from ..data.split import FerPlusSplit
from ..data.votes import plurality_label, vote_distribution
from ..media.predict import FacePrediction, MethodPrediction, PhotoPrediction, reading
from ..models.checkpoints import CheckpointError, verify_manifest
from ..training.bundle import DEFAULT_BUNDLE_DIR, DEFAULT_EVALUATION_DIR, PRIORS_NAME, read_registry
from . import metrics
from .predictions import models_digest, read_predictions
from .priors import (
    N_BOOT,
    PriorChoice,
    PriorEstimate,
    RowPrior,
    SourceFit,
    fit_source,
    read_with_prior,
    training_priors_document,
)
from .runner import Evaluation

# what `choice_table` reports per row and choice: name -> (header, metric of (probs, labels, votes))
CHOICE_METRICS: dict[str, tuple[str, Any]] = {
    "accuracy": ("Accuracy", lambda p, y, v: metrics.accuracy(p, y)),
    "balanced_accuracy": ("Balanced accuracy", lambda p, y, v: metrics.balanced_accuracy(p, y)),
    "nll": ("NLL", lambda p, y, v: metrics.nll(p, y)),
    "jsd": ("JSD to votes", lambda p, y, v: float(metrics.js_divergence(v, p).mean())),
    "human_ece": ("Human ECE", lambda p, y, v: metrics.human_ece(p, v)),
}


# --------------------------------------------------------------------------------------
# the training priors beside the bundle


def write_training_priors(
    train: FerPlusSplit, folder: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR
) -> Path:
    """Write ``priors.json`` for the rows of the bundle in ``folder`` (its ``models.json``)
    from the Train split. The manifest is left as it is (`bnnfer.training.bundle.assemble_bundle`
    lists the file when it writes both)."""
    path = Path(folder) / PRIORS_NAME
    targets = {row.key: row.target for row in read_registry(folder)}
    document = training_priors_document(train.votes, targets, f"FER+ {train.split}")
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    return path


def read_row_priors(folder: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR) -> dict[str, RowPrior]:
    """``{row key: RowPrior}`` from the bundle's ``priors.json``, checked against the manifest
    where it is listed there, and each recorded training prior against the one its target
    and Train's figures give. `CheckpointError` when it is missing or does not add up."""
    folder = Path(folder)
    path = folder / PRIORS_NAME
    try:
        listed = json.loads((folder / "manifest.json").read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        listed = {}
    if PRIORS_NAME in listed:
        verify_manifest(folder, [PRIORS_NAME])
    try:
        document = json.loads(path.read_text())
        plurality = np.asarray(document["plurality"], dtype=np.float64)
        profiles = np.asarray(document["vote_profiles"], dtype=np.float64)
        rows = {
            key: (RowPrior(entry["target"], plurality, profiles), entry["training_prior"])
            for key, entry in document["rows"].items()
        }
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: no training priors; write them with "
            "bnnfer.evaluation.adapt.write_training_priors (docs/priors.md)"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: malformed training priors ({error})") from None
    for key, (row, recorded) in rows.items():
        if not np.allclose(row.training, recorded, atol=1e-9):
            raise CheckpointError(f"{path}: row {key}'s training prior does not match its target")
    return {key: row for key, (row, _) in rows.items()}


# --------------------------------------------------------------------------------------
# each row's fit on FER+ Valid


def source_fits(samples: Mapping[str, np.ndarray], votes: np.ndarray) -> dict[str, SourceFit]:
    """``{key: SourceFit}`` of every row's samples ``(S, N, C)`` on labelled faces of raw
    votes ``(N, 10)`` (FER+ Valid); a row whose probabilities carry no information on the
    plurality label there cannot be calibrated and is left out."""
    labels = plurality_label(votes)
    fits = {}
    for key, array in samples.items():
        try:
            fits[key] = fit_source(_mean(array), labels)
        except ValueError:  # fit_bcts: a temperature <= 0
            continue
    return fits


def shipped_source_fits(
    models: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR,
    evaluation: str | os.PathLike[str] = DEFAULT_EVALUATION_DIR,
) -> dict[str, SourceFit]:
    """`source_fits` on the evaluation of Valid in ``evaluation`` (``predictions-valid.npz``),
    which must have been made by the bundle in ``models`` (their manifest digest)."""
    path = Path(evaluation) / "predictions-valid.npz"
    try:
        meta, arrays = read_predictions(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no evaluation of Valid to fit the estimators on") from None
    if meta.get("models_digest") != models_digest(models):
        raise CheckpointError(
            f"{path} was made by other models than {models}: evaluate Valid with them "
            "(bnnfer evaluate --split valid) to read them under an adapted prior"
        )
    samples = {key[: -len(".samples")]: a for key, a in arrays.items() if key.endswith(".samples")}
    return source_fits(samples, arrays["votes"])


def _mean(samples: np.ndarray) -> np.ndarray:
    """The mean distribution ``(N, C)`` of samples ``(S, N, C)``, rows renormalised."""
    mean = np.asarray(samples, dtype=np.float64).mean(axis=0)
    return mean / mean.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------
# readings under a choice


def read_rows(
    samples: Mapping[str, np.ndarray],
    choice: PriorChoice,
    rows: Mapping[str, RowPrior],
    sources: Mapping[str, SourceFit] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, PriorEstimate]]:
    """Every row's samples ``{key: (S, B, C)}`` read under ``choice`` (`priors.read_with_prior`)
    and, for ``adapted``, each row's estimate over these B faces. A row without a
    `RowPrior` (one added from a file: its training prior is unknown) is kept as it is; so is,
    under ``adapted``, a row without a fit in ``sources``, its estimate undefined (NaN) with
    the reason among its warnings."""
    read, estimates = {}, {}
    for key, array in samples.items():
        source = None if sources is None else sources.get(key)
        if key not in rows or (choice.kind == "adapted" and source is None):
            read[key] = np.asarray(array, dtype=np.float64)
            if key in rows:
                estimates[key] = PriorEstimate(
                    "em", *np.full((3, len(rows[key].plurality)), np.nan), array.shape[1],
                    (f"no estimate: {key} has no fit on FER+ Valid (its probabilities carry no "
                     "information on the plurality label there); read as trained",),
                )  # fmt: skip
            continue
        read[key], estimate = read_with_prior(array, choice, rows[key], source, n_boot, seed)
        if estimate is not None:
            estimates[key] = estimate
    return read, estimates


def choice_table(
    evaluation: Evaluation,
    choice: PriorChoice,
    rows: Mapping[str, RowPrior],
    sources: Mapping[str, SourceFit] | None = None,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, PriorEstimate]]:
    """`CHOICE_METRICS` of every row of ``evaluation`` as trained (``fer+``) and under
    ``choice``: ``{key: {"fer+": {metric: value}, str(choice): {...}}}``, and the estimates
    made for ``adapted``."""
    labels, votes = plurality_label(evaluation.votes), vote_distribution(evaluation.votes)
    read, estimates = read_rows(evaluation.samples, choice, rows, sources)
    table = {}
    for key, samples in evaluation.samples.items():
        table[key] = {
            name: {
                metric: float(fn(_mean(array), labels, votes))
                for metric, (_, fn) in CHOICE_METRICS.items()
            }
            for name, array in (("fer+", samples), (str(choice), read[key]))
        }
    return table, estimates


def choice_markdown(
    table: Mapping[str, Mapping[str, Mapping[str, float]]],
    estimates: Mapping[str, PriorEstimate],
    labels: Mapping[str, str] | None = None,
) -> str:
    """`choice_table`'s figures as Markdown: a row per method and choice, then each adapted
    row's estimated prior (`describe_estimates`)."""
    names = list(CHOICE_METRICS)
    lines = [
        "| Method | Prior | " + " | ".join(CHOICE_METRICS[m][0] for m in names) + " |",
        "|" + " --- |" * (len(names) + 2),
    ]
    for key, by_choice in table.items():
        for choice, values in by_choice.items():
            cells = " | ".join(f"{values[m]:.3f}" for m in names)
            lines.append(f"| {(labels or {}).get(key, key)} | {choice} | {cells} |")
    described = describe_estimates(estimates, labels)
    return "\n".join(lines) + (f"\n\n{described}" if described else "")


def describe_estimates(
    estimates: Mapping[str, PriorEstimate], labels: Mapping[str, str] | None = None
) -> str:
    """A line per row: the prior its faces were estimated to have, each emotion with its 95%
    interval, and why the estimate is unreliable where it is ("" without estimates)."""
    lines = []
    for key, estimate in estimates.items():
        if not np.all(np.isfinite(estimate.prior)):
            lines.append(f"{(labels or {}).get(key, key)}: {'; '.join(estimate.warnings)}.")
            continue
        shown = ", ".join(
            f"{e} {p:.3f} [{lo:.3f}, {hi:.3f}]"
            for e, p, lo, hi in zip(
                EMOTIONS, estimate.prior, estimate.low, estimate.high, strict=True
            )
        )
        warn = f" Unreliable: {'; '.join(estimate.warnings)}." if estimate.warnings else ""
        lines.append(
            f"{(labels or {}).get(key, key)}: prior estimated by {estimate.method.upper()} "
            f"from {estimate.faces} faces: {shown}.{warn}"
        )
    return "\n".join(lines)


def bundle_context(
    choice: PriorChoice,
    models: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR,
    evaluation: str | os.PathLike[str] = DEFAULT_EVALUATION_DIR,
) -> tuple[dict[str, RowPrior], dict[str, SourceFit] | None]:
    """What reading the bundle in ``models`` under ``choice`` needs: its rows' `RowPrior`
    (`read_row_priors`) and, for ``adapted``, their fits on its evaluation of Valid
    (`shipped_source_fits`; None for the other choices)."""
    rows = read_row_priors(models)
    return rows, shipped_source_fits(models, evaluation) if choice.kind == "adapted" else None


def write_comparison(
    evaluation: Evaluation,
    choice: PriorChoice,
    models: str | os.PathLike[str],
    out: str | os.PathLike[str],
    shipped: str | os.PathLike[str] = DEFAULT_EVALUATION_DIR,
) -> tuple[str, Path]:
    """``bnnfer evaluate --prior``: `choice_table` of ``evaluation`` under ``choice`` beside
    ``fer+``, as Markdown and written to ``out/prior-comparison.json``. An adapted prior is
    estimated with fits on Valid: on ``evaluation`` itself when it is of Valid (the rows as
    they were sampled there: S and placement), else on the bundle's evaluation of Valid in
    ``shipped``."""
    rows = read_row_priors(models)
    sources = None
    if choice.kind == "adapted":
        if evaluation.split == "valid":
            sources = source_fits(evaluation.samples, evaluation.votes)
        else:
            sources = shipped_source_fits(models, shipped)
    table, estimates = choice_table(evaluation, choice, rows, sources)
    document = {
        "split": evaluation.split,
        "faces": len(evaluation.names),
        "choice": str(choice),
        "metrics": table,
        "estimates": {key: estimate.to_dict() for key, estimate in estimates.items()},
    }
    path = Path(out) / "prior-comparison.json"
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    markdown = choice_markdown(table, estimates, evaluation.labels)
    return f"Read as trained (fer+) and under the prior {choice}:\n\n{markdown}\n", path


def reread_photos(
    photos: list[PhotoPrediction],
    choice: PriorChoice,
    rows: Mapping[str, RowPrior],
    sources: Mapping[str, SourceFit] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[list[PhotoPrediction], dict[str, PriorEstimate]]:
    """Photos' predictions read under ``choice``, every face of every photo together (an
    ``adapted`` prior is estimated over all of them), each face's reading redone; and the
    estimates. ``fer+`` returns the photos as they are."""
    faces = [face for photo in photos for face in photo.faces]
    if choice.kind == "fer+" or not faces:
        return photos, {}
    keys = list(faces[0].methods)
    stacked = {key: np.stack([face.methods[key].samples for face in faces], axis=1) for key in keys}
    read, estimates = read_rows(stacked, choice, rows, sources, n_boot, seed)
    redone, index = [], 0
    for photo in photos:
        kept = []
        for face in photo.faces:
            methods = {key: MethodPrediction.of(read[key][:, index]) for key in keys}
            kept.append(
                FacePrediction(face.box, face.probability, face.crop, methods, reading(methods))
            )
            index += 1
        redone.append(replace(photo, faces=kept))
    return redone, estimates


def video_reader(
    choice: PriorChoice,
    rows: Mapping[str, RowPrior],
    sources: Mapping[str, SourceFit] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], dict[str, PriorEstimate]]:
    """``(reread, estimates)``: ``reread`` maps every row's samples over a clip's faces
    ``{key: (S, R, C)}`` to their readings under ``choice`` (what `bnnfer.media.video.predict_video`
    takes as ``reread``), and fills ``estimates`` for ``adapted``."""
    estimates: dict[str, PriorEstimate] = {}

    def reread(samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        read, made = read_rows(samples, choice, rows, sources, n_boot, seed)
        estimates.update(made)
        return read

    return reread, estimates
