"""Evaluation of every bundled method on one split: the metrics table with bootstrap intervals
and the per-image predictions file that the dashboard reads.

`evaluate_methods` draws ``(S, N, C)`` samples per method, then computes, per method, each
summary metric with a percentile-bootstrap 95% interval (images resampled). `write_evaluation`
writes ``metrics.json``, ``metrics.md`` and ``predictions-<split>.npz``; the npz holds, per method
key, the samples (float16 ``(S, N, C)``), the mean distribution and the uncertainty scores, keyed
by image name and split, plus a ``meta`` JSON string naming the models' manifest digest, the
split and S so that a reader can tell whether the file matches what it would compute.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .data import FerPlusSplit
from .inference import mc_predict
from .methods import Method

# A summary metric: samples (S, B, C), plurality labels (B,), vote distributions (B, C) -> float.
Summary = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def _mean_probs(samples: np.ndarray) -> np.ndarray:
    probs = samples.mean(axis=0)
    return probs / probs.sum(axis=1, keepdims=True)


def _on_mean(fn: Callable[..., float]) -> Summary:
    return lambda s, y, v: fn(_mean_probs(s), y)


def _divergence(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Summary:
    return lambda s, y, v: float(fn(v, _mean_probs(s)).mean())


def _auroc(score: Callable[[np.ndarray], np.ndarray]) -> Summary:
    return lambda s, y, v: metrics.misclassification_auroc(score(s), _mean_probs(s), y)


# name -> (column header, the metric)
METRICS: dict[str, tuple[str, Summary]] = {
    "accuracy": ("Accuracy", _on_mean(metrics.accuracy)),
    "nll": ("NLL", _on_mean(metrics.nll)),
    "brier": ("Brier", _on_mean(metrics.brier)),
    "ece": ("ECE", _on_mean(metrics.ece)),
    "ece_unweighted": (
        "ECE (unweighted)",
        _on_mean(lambda p, y: metrics.ece(p, y, weighting="uniform")),
    ),
    "adaptive_ece": ("Adaptive ECE", _on_mean(metrics.adaptive_ece)),
    "classwise_ece": ("Classwise ECE", _on_mean(metrics.classwise_ece)),
    "mce": ("MCE", _on_mean(metrics.mce)),
    "jsd": ("JSD to votes", _divergence(metrics.js_divergence)),
    "kl": ("KL(votes || model)", _divergence(metrics.kl_divergence)),
    "total_variation": ("TV to votes", _divergence(metrics.total_variation)),
    "soft_brier": (
        "Soft Brier",
        lambda s, y, v: float(metrics.soft_brier(_mean_probs(s), v).mean()),
    ),
    "human_ece": ("Human ECE", lambda s, y, v: metrics.human_ece(_mean_probs(s), v)),
    "entropy_spearman": (
        "Entropy Spearman",
        lambda s, y, v: metrics.entropy_spearman(_mean_probs(s), v),
    ),
    "auroc_entropy": ("AUROC (entropy)", _auroc(metrics.predictive_entropy)),
    "auroc_mi": ("AUROC (MI)", _auroc(metrics.mutual_information)),
    "predictive_entropy": (
        "Total unc.",
        lambda s, y, v: float(metrics.predictive_entropy(s).mean()),
    ),
    "expected_entropy": (
        "Aleatoric unc.",
        lambda s, y, v: float(metrics.expected_entropy(s).mean()),
    ),
    "mutual_information": (
        "Epistemic unc.",
        lambda s, y, v: float(metrics.mutual_information(s).mean()),
    ),
}

# The columns of the short Markdown table (all of METRICS go to the JSON).
TABLE_COLUMNS = (
    "accuracy", "nll", "brier", "ece", "ece_unweighted", "adaptive_ece", "classwise_ece",
    "jsd", "kl", "soft_brier", "human_ece", "entropy_spearman", "auroc_entropy", "auroc_mi",
    "predictive_entropy", "expected_entropy", "mutual_information",
)  # fmt: skip


@dataclass
class Evaluation:
    """What `evaluate_methods` found: per method key its samples and metric intervals."""

    split: str
    names: np.ndarray  # (N,)
    votes: np.ndarray  # (N, 10)
    samples: dict[str, np.ndarray]  # key -> (S, N, C) float32
    table: dict[str, dict[str, tuple[float, float, float]]]  # key -> metric -> (value, lo, hi)
    labels: dict[str, str]  # key -> display label
    settings: dict[str, Any]


def evaluate_methods(
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    samples: int = 30,
    seed: int = 0,
    n_boot: int = 1000,
    labels: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    precision: str = "auto",
) -> Evaluation:
    """Run every method on ``split`` and compute `METRICS` with 95% bootstrap intervals.

    Args:
        methods: ``{key: Method}``; MC methods draw ``samples`` samples, ensembles one per
            member, classical ones a single one.
        n_boot: bootstrap resamples per metric (the same image resamples for every method, so
            the intervals of two methods are comparable).
    """
    votes_dist = split.distribution
    plurality = split.labels
    drawn: dict[str, np.ndarray] = {}
    table: dict[str, dict[str, tuple[float, float, float]]] = {}
    for key, method in methods.items():
        if progress is not None:
            progress(f"predicting {key} on {len(split)} {split.split} faces")
        draws = samples if method.name.startswith("mc_") else None  # else 1 or M, fixed
        drawn[key] = mc_predict(
            method, split.images, samples=draws, seed=seed, precision=precision
        ).numpy()
        array = drawn[key].astype(np.float64)
        array /= array.sum(axis=2, keepdims=True)
        table[key] = {
            name: metrics.bootstrap_ci(
                lambda a, y, v, fn=fn: fn(a, y, v),
                [array, plurality, votes_dist],
                n_boot=n_boot,
                seed=seed,
            )
            for name, (_, fn) in METRICS.items()
        }
    return Evaluation(
        split=split.split,
        names=split.names,
        votes=split.votes,
        samples=drawn,
        table=table,
        labels=dict(labels or {k: k for k in methods}),
        settings={
            "samples": samples,
            "seed": seed,
            "n_boot": n_boot,
            "faces": len(split),
            "precision": precision,
        },
    )


def _fmt(value: float, low: float, high: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def markdown_table(evaluation: Evaluation, columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """A Markdown table: one row per method, "value [low, high]" per metric."""
    header = "| Method | " + " | ".join(METRICS[c][0] for c in columns) + " |"
    rule = "|" + " --- |" * (len(columns) + 1)
    lines = [header, rule]
    for key, row in evaluation.table.items():
        cells = [_fmt(*row[c]) for c in columns]
        lines.append(f"| {evaluation.labels.get(key, key)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def models_digest(folder: str | os.PathLike[str]) -> str:
    """sha256 of a bundle's manifest: it changes whenever any bundled file does."""
    manifest = Path(folder) / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""


def write_evaluation(
    evaluation: Evaluation, out: str | os.PathLike[str], models_folder: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.md`` and ``predictions-<split>.npz`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "split": evaluation.split,
        "models_digest": models_digest(models_folder),
        "methods": list(evaluation.samples),
        **evaluation.settings,
    }
    document = {
        **meta,
        "labels": evaluation.labels,
        "metrics": {
            key: {m: {"value": v, "low": lo, "high": hi} for m, (v, lo, hi) in row.items()}
            for key, row in evaluation.table.items()
        },
    }
    paths = {
        "json": out / "metrics.json",
        "markdown": out / "metrics.md",
        "predictions": out / f"predictions-{evaluation.split}.npz",
    }
    paths["json"].write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    paths["markdown"].write_text(
        f"Split: {evaluation.split} ({evaluation.settings['faces']} faces), "
        f"S = {evaluation.settings['samples']}, 95% bootstrap intervals "
        f"({evaluation.settings['n_boot']} resamples)\n\n" + markdown_table(evaluation) + "\n"
    )
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "names": evaluation.names.astype(str),
        "split": np.full(len(evaluation.names), evaluation.split),
        "votes": evaluation.votes,
    }
    for key, samples in evaluation.samples.items():
        array = samples.astype(np.float64)
        array /= array.sum(axis=2, keepdims=True)
        arrays[f"{key}.samples"] = samples.astype(np.float16)
        arrays[f"{key}.mean"] = array.mean(axis=0).astype(np.float32)
        for score, values in metrics.uncertainty_scores(array).items():
            arrays[f"{key}.{score}"] = values.astype(np.float32)
    tmp = paths["predictions"].with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, paths["predictions"])
    return paths


def read_predictions(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a predictions file, read without unpickling."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    return meta, arrays
