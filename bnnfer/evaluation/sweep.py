"""The stochastic-rate sweep behind claim 1: MC networks trained at several block rates, scored
beside the bundled rows on the same faces.

Claim 1 of Matin & Valdenegro-Toro is that Bayesian networks give probabilities closer to the
people's than a classical network. On FER+ the bundled MC rows, which drop with p = 0.1 in the
blocks, sit within a hair of the classical network, so the first question is whether that is a
property of the methods or of the rate. A sweep row is a checkpoint trained like the bundled MC
networks with another block rate (``bnnfer train --method mc_dropout --block-rate 0.5``); it is
scored with `bnnfer.evaluation.runner.score_samples` together with the bundle's classical network
(the reference of every paired difference), its p = 0.1 MC rows and its ensemble, so that every
interval comes from the same bootstrap resamples of the same faces.

Each sweep row's samples ``(S, N, C)`` are drawn once and kept beside its checkpoint
(``STEM.<split>-samples.npz``, with the weights' sha256, the faces' names, S and the seed), so
that scoring again costs seconds. The bundled rows' samples come from the evaluation file when
it was made from this bundle for these faces, and are drawn otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomic, write_text_atomic
from ..data.split import FerPlusSplit
from ..inference import store
from ..inference.mc import mc_predict
from ..models.checkpoints import checkpoint_paths, load_method, read_checkpoint_json, sha256_file
from ..training import bundle
from .predictions import models_digest
from .runner import Evaluation, draw_samples, score_samples

SWEPT_METHODS = ("mc_dropout", "mc_dropconnect")
# the bundle's rows scored beside the sweep: the reference, the p = 0.1 MC rows, the ensemble
BUNDLED_ROWS = ("classical", "mc_dropout", "mc_dropconnect", "ensemble")
# what the sweep reports per row: metric -> (value, lo, hi); paired ones are minus classical
REPORTED = ("accuracy", "accuracy_majority", "jsd", "human_ece", "auroc_mi")
PAIRED = ("jsd", "human_ece")


@dataclass(frozen=True)
class SweepRow:
    """One network of the sweep: ``method`` (one of `SWEPT_METHODS`) at block rate ``rate``."""

    key: str  # e.g. "mc_dropout_p0.5"
    stem: Path  # the checkpoint, without suffix
    method: str
    rate: float


def row_key(method: str, rate: float) -> str:
    """The key of ``method`` at block rate ``rate``: ``mc_dropout_p0.25``."""
    return f"{method}_p{rate:g}"


def find_sweep_rows(folder: str | os.PathLike[str]) -> list[SweepRow]:
    """Every finished checkpoint in ``folder`` (``*.json`` beside its ``*.safetensors``) that
    serves an MC method, ordered by method and rate. A checkpoint still training (no weights
    yet) is left out."""
    rows = []
    for json_path in sorted(Path(folder).glob("*.json")):
        stem = json_path.with_suffix("")
        if not checkpoint_paths(stem)[0].is_file():
            continue
        document = read_checkpoint_json(stem)
        served = [m for m in document["methods"] if m in SWEPT_METHODS]
        if served:
            rate = float(document["network"]["block_rate"])
            rows.append(SweepRow(row_key(served[0], rate), stem, served[0], rate))
    return sorted(rows, key=lambda r: (SWEPT_METHODS.index(r.method), r.rate))


def row_samples(
    row: SweepRow,
    split: FerPlusSplit,
    samples: int = 30,
    seed: int = 0,
    precision: str = "fp32",
) -> np.ndarray:
    """``row``'s MC samples ``(S, N, C)`` for ``split``'s faces, float16 values as float32:
    read from ``STEM.<split>-samples.npz`` when it was drawn from these weights for these faces
    with this S and seed, else drawn and written there."""
    if split.images is None:
        raise ValueError(f"{row.key}: the split's images are needed to run the network")
    path = row.stem.parent / f"{row.stem.name}.{split.split}-samples.npz"
    weights = sha256_file(checkpoint_paths(row.stem)[0])
    wanted = {"weights": weights, "samples": samples, "seed": seed, "precision": precision}
    if path.is_file():
        with np.load(path, allow_pickle=False) as held:
            meta = json.loads(str(held["meta"]))
            if meta == wanted and np.array_equal(held["names"], split.names):
                return held["samples"].astype(np.float32)
    method = load_method(row.stem, row.method)
    drawn = mc_predict(method, split.images, samples=samples, seed=seed, precision=precision)
    # kept as float16, as the shipped evaluation keeps samples, and returned as kept, so that
    # the first scoring and every later one agree to the last digit
    kept = drawn.numpy().astype(np.float16)
    write_atomic(
        path, lambda file: np.savez(file, samples=kept, names=split.names, meta=json.dumps(wanted))
    )
    return kept.astype(np.float32)


def bundled_samples(
    models: str | os.PathLike[str],
    split: FerPlusSplit,
    evaluation: str | os.PathLike[str] | None,
    samples: int = 30,
    seed: int = 0,
    precision: str = "fp32",
) -> dict[str, np.ndarray]:
    """The bundle's `BUNDLED_ROWS` samples ``{key: (S, N, C)}`` for ``split``: from the
    evaluation file ``evaluation`` when it was made from this bundle for these faces, else
    drawn (every stochastic layer sampled, as trained)."""
    if evaluation is not None and Path(evaluation).is_file():
        try:
            held = store.evaluation_predictions(
                evaluation, models_digest(models), samples, BUNDLED_ROWS
            )
        except ValueError:
            held = None
        if held is not None and np.array_equal(held.names, split.names):
            return dict(held.samples)
    methods = bundle.load_bundle(models, "cpu", rows=BUNDLED_ROWS)
    return draw_samples(methods, split, samples, seed, precision)


def bundled_rates(models: str | os.PathLike[str]) -> dict[str, float]:
    """The block rate each of the bundle's MC rows was trained with, ``{key: rate}``."""
    rows = {r.key: r for r in bundle.read_registry(models) if r.key in SWEPT_METHODS}
    return {
        key: float(read_checkpoint_json(Path(models) / row.checkpoint)["network"]["block_rate"])
        for key, row in rows.items()
    }


def run_sweep(
    rows: Sequence[SweepRow],
    split: FerPlusSplit,
    models: str | os.PathLike[str] = bundle.DEFAULT_BUNDLE_DIR,
    evaluation: str | os.PathLike[str] | None = None,
    samples: int = 30,
    seed: int = 0,
    n_boot: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Evaluation]:
    """Score the sweep ``rows`` beside the bundle's rows on ``split``.

    Returns:
        ``(result, evaluation)``: ``result`` is JSON-able: the split, its face counts under both
        protocols, the settings, and per row (bundled ones first) its method, block rate,
        source, `REPORTED` metrics and `PAIRED` differences from the classical network, each
        ``[value, lo, hi]`` with 95% bootstrap intervals; ``evaluation`` is the full
        `bnnfer.evaluation.runner.Evaluation` behind it.
    """
    say = progress or (lambda _text: None)
    say(f"bundled rows on {len(split)} {split.split} faces")
    drawn = bundled_samples(models, split, evaluation, samples, seed)
    rates = bundled_rates(models)
    for row in rows:
        if row.key in drawn:
            raise ValueError(f"{row.stem}: sweep row {row.key} appears twice")
        say(f"{row.key}: samples from {row.stem}")
        drawn[row.key] = row_samples(row, split, samples, seed)
    settings = {"samples": samples, "seed": seed, "precision": "fp32"}
    scored = score_samples(drawn, split, n_boot, seed, settings=settings)

    def figures(key: str) -> dict[str, list[float]]:
        cells = {name: list(scored.table[key][name]) for name in REPORTED}
        if key in scored.paired:
            cells |= {f"{n}_minus_classical": list(scored.paired[key][n]) for n in PAIRED}
        return cells

    table = [
        {"key": key, "method": key, "rate": rates.get(key), "source": "bundle", **figures(key)}
        for key in BUNDLED_ROWS
    ]
    table += [
        {"key": r.key, "method": r.method, "rate": r.rate, "source": "sweep", **figures(r.key)}
        for r in rows
    ]
    result = {
        # the bundle its p = 0.1 rows came from, so that a reader can tell a sweep scored with
        # an earlier bundle from one of the bundle it ships beside
        "models_digest": models_digest(models),
        "split": split.split,
        "faces": len(split),
        "faces_majority": scored.settings["faces_majority"],
        "samples": samples,
        "seed": seed,
        "n_boot": n_boot,
        "rows": table,
    }
    return result, scored


def by_rate(result: dict[str, Any], method: str) -> list[dict[str, Any]]:
    """``method``'s rows of a sweep result (bundled p = 0.1 and swept), ordered by rate."""
    rows = [r for r in result["rows"] if r["method"] == method and r["rate"] is not None]
    return sorted(rows, key=lambda r: r["rate"])


def verdict(result: dict[str, Any]) -> str:
    """Claim 1 at each rate, in words: a method's probabilities are closer to the votes than
    the classical network's where the paired JSD difference's interval lies below 0."""
    lines = []
    for method in SWEPT_METHODS:
        parts = []
        for row in by_rate(result, method):
            value, lo, hi = row["jsd_minus_classical"]
            word = "closer" if hi < 0 else "further" if lo > 0 else "no different"
            parts.append(f"p = {row['rate']:g}: {word} ({value:+.4f} [{lo:+.4f}, {hi:+.4f}])")
        if parts:
            lines.append(f"{method}: " + "; ".join(parts))
    ensemble = next(r for r in result["rows"] if r["key"] == "ensemble")
    value, lo, hi = ensemble["jsd_minus_classical"]
    lines.append(f"ensemble (for scale): {value:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    return "\n".join(lines)


def markdown_table(result: dict[str, Any]) -> str:
    """The sweep as a Markdown table: one line per row, values with their intervals."""

    def cell(interval: list[float] | None, digits: int = 3) -> str:
        if interval is None:
            return "reference"
        value, lo, hi = interval
        return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    header = (
        "| row | block rate | accuracy (plurality) | accuracy (Barsoum) | JSD to votes | "
        "JSD minus classical | human ECE | AUROC (MI) |"
    )
    lines = [header, "|" + " --- |" * 8]
    for row in result["rows"]:
        rate = "" if row["rate"] is None else f"{row['rate']:g}"
        lines.append(
            f"| {row['key']} | {rate} | {cell(row['accuracy'])} | "
            f"{cell(row['accuracy_majority'])} | {cell(row['jsd'], 4)} | "
            f"{cell(row.get('jsd_minus_classical'), 4)} | {cell(row['human_ece'])} | "
            f"{cell(row['auroc_mi'])} |"
        )
    return "\n".join(lines)


def write_sweep(result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write ``result`` as JSON to ``out`` (atomically) and return the path."""
    return write_text_atomic(out, json.dumps(result, indent=1) + "\n")


def read_sweep(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A sweep result written by `write_sweep`, or None where there is none."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
