"""An `Evaluation` written out: the Markdown report (`report`: settings, the metrics table, the
paired differences, the human baselines and the annotators) and the files of ``bnnfer
evaluate`` (`write_evaluation`: ``metrics.json``, ``metrics.md``, ``predictions-<split>.npz``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic
from ..data.crowd import no_face_text
from ..data.votes import SEVERAL_ANNOTATORS_NOTE
from . import annotators, baselines
from .predictions import models_digest, write_predictions
from .registry import ANNOTATOR_METRICS, METRICS, PAIRED_METRICS, REFERENCE
from .runner import Evaluation

# what every shown table says of the binned calibration errors' percentile intervals
CALIBRATION_INTERVAL_NOTE = (
    "Binned calibration errors (the ECE columns) are biased upward at this sample size: "
    "resampling adds binning noise, so their bootstrap distribution lies above the estimate "
    "and an interval can even exclude it. The paired differences of `bnnfer evaluate` "
    "(ECE minus classical) compare methods with this shift largely cancelled."
)

# The columns of the short Markdown table (all of METRICS go to the JSON).
TABLE_COLUMNS = (
    "accuracy",
    "accuracy_majority",
    "nll",
    "brier",
    "ece",
    "ece_unweighted",
    "adaptive_ece",
    "classwise_ece",
    "jsd",
    "kl",
    "soft_brier",
    "human_ece",
    "entropy_spearman",
    "auroc_entropy",
    "auroc_mi",
    "predictive_entropy",
    "expected_entropy",
    "mutual_information",
)


def format_interval(
    value: float,
    low: float,
    high: float,
    digits: int = 3,
    signed: bool = False,
    missing: str = "n/a",
) -> str:
    """``"value [low, high]"`` with ``digits`` decimals, each with its sign if ``signed`` (for
    differences); ``missing`` for a non-finite value. The one way the tables write an estimate
    with its interval: ``format_interval(0.5, 0.4, 0.6)`` is ``"0.500 [0.400, 0.600]"``,
    ``format_interval(-0.01, -0.02, 0.0, 4, signed=True)`` is
    ``"-0.0100 [-0.0200, +0.0000]"``."""
    if not np.isfinite(value):
        return missing
    spec = f"{'+' if signed else ''}.{digits}f"
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def protocols_note(evaluation: Evaluation) -> str:
    """One sentence naming the two accuracy protocols and the faces each is taken on."""
    faces, majority = evaluation.settings["faces"], evaluation.settings.get("faces_majority")
    return (
        f"Accuracy is taken against the annotators' plurality emotion on all {faces} faces; "
        f"Accuracy (Barsoum majority) is the FER+ papers' protocol (Barsoum et al. 2016), on "
        f"the {majority} faces where, single votes discarded, one emotion holds more than half "
        "of the votes (unknown and not-a-face counted)."
    )


def _skipped(evaluation: Evaluation) -> tuple[str, ...]:
    return ANNOTATOR_METRICS if evaluation.settings.get("single_annotator") else ()


def _missing(name: str, skipped: tuple[str, ...], missing: str = "n/a") -> str:
    """What a cell of metric ``name`` shows without a value."""
    return SEVERAL_ANNOTATORS_NOTE if name in skipped else missing


def markdown_table(evaluation: Evaluation, columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """A Markdown table: one row per method, "value [low, high]" per metric."""
    header = "| Method | " + " | ".join(METRICS[c][0] for c in columns) + " |"
    rule = "|" + " --- |" * (len(columns) + 1)
    lines = [header, rule]
    skipped = _skipped(evaluation)
    for key, row in evaluation.table.items():
        cells = [format_interval(*row[c], missing=_missing(c, skipped)) for c in columns]
        lines.append(f"| {evaluation.labels.get(key, key)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(evaluation: Evaluation) -> str:
    """Markdown: each method minus the classical network, paired intervals ("" without one)."""
    if not evaluation.paired:
        return ""
    headers = " | ".join(f"{METRICS[m][0]} minus classical" for m in PAIRED_METRICS)
    lines = [
        "",
        "Differences from the classical network (paired bootstrap: the same resampled faces for "
        "both; an interval without 0 is a difference)",
        "",
        f"| Method | {headers} |",
        "|" + " --- |" * (len(PAIRED_METRICS) + 1),
    ]
    skipped = _skipped(evaluation)
    for key, row in evaluation.paired.items():
        cells = " | ".join(
            format_interval(*row[m], digits=4, signed=True, missing=_missing(m, skipped))
            for m in PAIRED_METRICS
        )
        lines.append(f"| {evaluation.labels.get(key, key)} | {cells} |")
    return "\n".join(lines) + "\n"


def report(evaluation: Evaluation) -> str:
    """The evaluation in Markdown: what was measured and how (split, S, resamples, the two
    accuracy protocols and their face counts), the metrics table and the paired differences:
    what ``bnnfer evaluate`` prints and writes to ``metrics.md``."""
    settings = evaluation.settings
    notes = ""
    if settings.get("single_annotator"):
        notes += (
            " Every face has one vote, so the metrics against the vote distribution "
            f"({', '.join(METRICS[m][0] for m in ANNOTATOR_METRICS)}) "
            f"{SEVERAL_ANNOTATORS_NOTE} and are not computed."
        )
    if settings.get("no_face_detected"):
        text = no_face_text(settings["no_face_detected"])
        notes += f" {text[:1].upper()}{text[1:]}."
    if settings.get("reference") == "dawid-skene":
        notes += f" {annotators.DAWID_SKENE_NOTE}"
    return (
        f"Split: {evaluation.split} ({settings['faces']} faces), S = {settings['samples']}, "
        f"95% bootstrap intervals ({settings['n_boot']} resamples). "
        f"{protocols_note(evaluation)} {CALIBRATION_INTERVAL_NOTE}{notes}\n\n"
        + markdown_table(evaluation)
        + "\n"
        + paired_table(evaluation)
        + (
            ""
            if evaluation.human is None
            else "\n" + baselines.markdown(evaluation.human, evaluation.labels)
        )
        + (
            ""
            if evaluation.annotators is None
            else "\n" + annotators.markdown(evaluation.annotators)
        )
    )


def write_evaluation(
    evaluation: Evaluation,
    out: str | os.PathLike[str],
    models_folder: str | os.PathLike[str],
    compact: bool = False,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.md`` and ``predictions-<split>.npz`` into ``out``.

    ``compact`` keeps only what the dashboard needs (names, votes, float16 samples) and leaves
    out the derived per-face arrays (mean distribution, uncertainty scores), which the reader
    recomputes from the samples: the form the repository ships in ``assets/evaluation``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "split": evaluation.split,
        "models_digest": models_digest(models_folder),
        "methods": list(evaluation.samples),
        **evaluation.settings,
    }
    skipped = _skipped(evaluation)

    def cell(name: str, interval: tuple[float, float, float]) -> dict[str, Any]:
        if name in skipped:
            return {"value": None, "low": None, "high": None, "note": SEVERAL_ANNOTATORS_NOTE}
        value, low, high = interval
        return {"value": value, "low": low, "high": high}

    document = {
        **meta,
        "labels": evaluation.labels,
        "metrics": {
            key: {m: cell(m, interval) for m, interval in row.items()}
            for key, row in evaluation.table.items()
        },
        f"minus_{REFERENCE}": {
            key: {m: cell(m, interval) for m, interval in row.items()}
            for key, row in evaluation.paired.items()
        },
    }
    if evaluation.human is not None:
        document["human_baselines"] = baselines.to_json(evaluation.human)
    paths = {
        "json": out / "metrics.json",
        "markdown": out / "metrics.md",
        "predictions": out / f"predictions-{evaluation.split}.npz",
    }
    write_text_atomic(paths["json"], json.dumps(document, indent=2, allow_nan=True) + "\n")
    write_text_atomic(paths["markdown"], report(evaluation))
    if evaluation.annotators is not None:
        paths["annotators"] = out / "annotators.csv"
        write_text_atomic(paths["annotators"], evaluation.annotators.table.to_csv(index=False))
    write_predictions(
        paths["predictions"],
        meta,
        evaluation.names,
        evaluation.votes,
        evaluation.samples,
        evaluation.split,
        compact,
    )
    return paths
