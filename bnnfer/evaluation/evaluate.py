"""Evaluation of every bundled method on one split: the metrics table with bootstrap intervals
and the per-image predictions file that the dashboard reads.

`evaluate_methods` draws ``(S, N, C)`` samples per method, reduces them once to per-face
quantities (`Faces`: mean distribution and the three uncertainty scores), then computes each
summary metric with a percentile-bootstrap 95% interval over faces. `write_evaluation`
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
from typing import Any, NamedTuple

import numpy as np

from ..atomic import write_atomic, write_text_atomic
from ..data.crowd import no_face_text
from ..data.split import FerPlusSplit
from ..data.votes import SEVERAL_ANNOTATORS_NOTE, barsoum_majority, single_annotator
from ..inference.mc import mc_predict
from ..models.methods import Method, placements
from . import annotators, baselines, metrics, resampled


class Faces(NamedTuple):
    """What every summary metric needs, one row per face, computed once from the samples.

    The bootstrap resamples these rows instead of the ``(S, N, C)`` samples, so each resample
    costs ``O(N C)`` rather than ``O(S N C)``; the per-face values are the same either way
    because each depends on one face's samples only.
    """

    probs: np.ndarray  # (N, C) mean predictive distribution, rows renormalised
    labels: np.ndarray  # (N,) plurality labels
    votes: np.ndarray  # (N, C) vote distributions
    total: np.ndarray  # (N,) predictive entropy H(mean_s p_s)
    aleatoric: np.ndarray  # (N,) expected entropy mean_s H(p_s)
    epistemic: np.ndarray  # (N,) mutual information, total - aleatoric
    majority: np.ndarray  # (N,) bool: in the FER+ papers' subset (`data.barsoum_majority`)


def per_face(
    samples: np.ndarray,
    labels: np.ndarray,
    votes: np.ndarray,
    majority: np.ndarray | None = None,
) -> Faces:
    """`Faces` of MC samples ``(S, N, C)`` (rows renormalised in float64 first). ``majority``
    marks the faces of the FER+ papers' protocol (`bnnfer.data.ferplus.barsoum_majority` of the raw
    votes); without it no face is marked, and that protocol's accuracy is undefined (NaN)."""
    array = np.asarray(samples, dtype=np.float64)
    array = array / array.sum(axis=2, keepdims=True)
    scores = metrics.uncertainty_scores(array)
    probs = array.mean(axis=0)
    return Faces(
        probs=probs / probs.sum(axis=1, keepdims=True),
        labels=np.asarray(labels),
        votes=np.asarray(votes, dtype=np.float64),
        total=scores["predictive_entropy"],
        aleatoric=scores["expected_entropy"],
        epistemic=scores["mutual_information"],
        majority=(
            np.zeros(len(probs), bool) if majority is None else np.asarray(majority, dtype=bool)
        ),
    )


class Metric(NamedTuple):
    """A summary metric of a set of faces, and optionally the same metric of many bootstrap
    resamples at once (`bnnfer.evaluation.resampled`): ``resampled(faces, counts)`` takes
    multiplicities
    ``(R, N)`` and returns ``(R,)``. Metrics without it are resampled one call at a time."""

    header: str
    value: Callable[[Faces], float]
    resampled: Callable[[Faces, np.ndarray], np.ndarray] | None = None


def _resampled_interval(
    metric: Metric, faces: Faces, n_boot: int, seed: int, reference: Faces | None = None
) -> tuple[float, float, float]:
    """The interval of ``metric`` (minus the ``reference``'s on the same resample) from its
    ``resampled`` form, on the resamples `bnnfer.evaluation.metrics.bootstrap_counts` draws for
    ``seed``: those `bnnfer.evaluation.metrics.bootstrap_ci` draws."""
    form = metric.resampled
    if form is None:
        raise ValueError(f"{metric.header}: no resampled form")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    scores = [faces] if reference is None else [faces, reference]
    blocks = []
    for counts in metrics.bootstrap_counts(len(faces.probs), n_boot, seed):
        values = [form(f, counts) for f in scores]
        blocks.append(values[0] if reference is None else values[0] - values[1])
    point = [metric.value(f) for f in scores]
    return metrics.percentile_interval(
        point[0] if reference is None else point[0] - point[1], np.concatenate(blocks)
    )


def summarise(
    metric: Metric | Callable[[Faces], float], faces: Faces, n_boot: int, seed: int = 0
) -> tuple[float, float, float]:
    """``(value, low, high)``: the metric of ``faces`` with a 95% percentile-bootstrap interval
    (faces resampled with replacement; the same resamples for every method given the same
    seed). A `Metric` with a ``resampled`` form scores all resamples at once; a bare function
    is called once per resample (`bnnfer.evaluation.metrics.bootstrap_ci`), with the same
    resamples."""
    if isinstance(metric, Metric) and metric.resampled is not None:
        return _resampled_interval(metric, faces, n_boot, seed)
    fn = metric.value if isinstance(metric, Metric) else metric
    return metrics.bootstrap_ci(lambda *rows: fn(Faces(*rows)), list(faces), n_boot, seed=seed)


def paired_difference(
    metric: Metric | Callable[[Faces], float],
    faces: Faces,
    reference: Faces,
    n_boot: int,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``metric(faces) - metric(reference)`` with a 95% *paired* bootstrap interval: both
    methods are scored on the same resampled faces, so the face-to-face variation they share
    cancels and the interval is far narrower than two separate intervals would suggest. An
    interval that excludes 0 says the two methods differ on this split. ``metric`` as in
    `summarise`."""
    if len(faces.probs) != len(reference.probs):
        raise ValueError(
            f"paired faces differ in number: {len(faces.probs)} and {len(reference.probs)}"
        )
    if isinstance(metric, Metric) and metric.resampled is not None:
        return _resampled_interval(metric, faces, n_boot, seed, reference)
    fn = metric.value if isinstance(metric, Metric) else metric
    width = len(Faces._fields)
    return metrics.bootstrap_ci(
        lambda *rows: fn(Faces(*rows[:width])) - fn(Faces(*rows[width:])),
        [*faces, *reference],
        n_boot,
        seed=seed,
    )


def _on_mean(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[Faces], float]:
    return lambda f: fn(f.probs, f.labels)


def _majority_accuracy(f: Faces) -> float:
    """Accuracy on the FER+ papers' subset; NaN where it holds no face."""
    if not f.majority.any():
        return float("nan")
    return metrics.accuracy(f.probs[f.majority], f.labels[f.majority])


def _correct(f: Faces) -> np.ndarray:
    """(N,) 1.0 where the mean distribution's argmax is the plurality label."""
    return (f.probs.argmax(axis=1) == f.labels).astype(np.float64)


def _mean_of(header: str, per_face: Callable[[Faces], np.ndarray]) -> Metric:
    """A metric that is the mean of a per-face quantity, with its resampled form."""
    return Metric(
        header,
        lambda f: float(per_face(f).mean()),
        lambda f, counts: resampled.mean(per_face(f), counts),
    )


def _calibration(outcome: Callable[[Faces], np.ndarray], **options: str) -> Callable:
    """The resampled equal-width calibration error of top-label confidence against ``outcome``."""
    return lambda f, counts: resampled.calibration_error(
        f.probs.max(axis=1), outcome(f), counts, **options
    )


def _human_agreement(f: Faces) -> np.ndarray:
    return metrics.human_agreement_of_prediction(f.probs, f.votes)


def _misclassification_auroc(header: str, score: str) -> Metric:
    """AUROC of a `Faces` uncertainty score (``"total"``, ``"epistemic"``) for the errors."""
    return Metric(
        header,
        lambda f: metrics.misclassification_auroc(getattr(f, score), f.probs, f.labels),
        lambda f, counts: resampled.auroc(getattr(f, score), _correct(f) == 0, counts),
    )


# name -> Metric (column header, the metric of one set of faces, its resampled form if any)
METRICS: dict[str, Metric] = {
    "accuracy": Metric(
        "Accuracy", _on_mean(metrics.accuracy), lambda f, w: resampled.mean(_correct(f), w)
    ),
    "accuracy_majority": Metric(
        "Accuracy (Barsoum majority)",
        _majority_accuracy,
        lambda f, w: resampled.ratio(_correct(f) * f.majority, f.majority, w),
    ),
    "nll": _mean_of("NLL", lambda f: metrics.surprisal(f.probs, f.labels)),
    "brier": Metric("Brier", _on_mean(metrics.brier)),
    "ece": Metric("ECE", _on_mean(metrics.ece), _calibration(_correct)),
    "ece_unweighted": Metric(
        "ECE (unweighted)",
        _on_mean(lambda p, y: metrics.ece(p, y, weighting="uniform")),
        _calibration(_correct, weighting="uniform"),
    ),
    "adaptive_ece": Metric("Adaptive ECE", _on_mean(metrics.adaptive_ece)),
    "classwise_ece": Metric("Classwise ECE", _on_mean(metrics.classwise_ece)),
    "mce": Metric("MCE", _on_mean(metrics.mce), _calibration(_correct, norm="max")),
    "jsd": _mean_of("JSD to votes", lambda f: metrics.js_divergence(f.votes, f.probs)),
    "kl": _mean_of("KL(votes ‖ model)", lambda f: metrics.kl_divergence(f.votes, f.probs)),
    "total_variation": _mean_of("TV to votes", lambda f: metrics.total_variation(f.votes, f.probs)),
    "soft_brier": _mean_of("Soft Brier", lambda f: metrics.soft_brier(f.probs, f.votes)),
    "human_ece": Metric(
        "Human ECE",
        lambda f: metrics.human_ece(f.probs, f.votes),
        _calibration(_human_agreement),
    ),
    "entropy_spearman": Metric(
        "Entropy Spearman",
        lambda f: metrics.entropy_spearman(f.probs, f.votes),
        lambda f, w: resampled.spearman(metrics.entropy(f.probs), metrics.entropy(f.votes), w),
    ),
    "auroc_entropy": _misclassification_auroc("AUROC (entropy)", "total"),
    "auroc_mi": _misclassification_auroc("AUROC (MI)", "epistemic"),
    "predictive_entropy": _mean_of("Total unc.", lambda f: f.total),
    "expected_entropy": _mean_of("Aleatoric unc.", lambda f: f.aleatoric),
    "mutual_information": _mean_of("Epistemic unc.", lambda f: f.epistemic),
}

# The metrics measured against the vote distribution: with one vote per face it is a one-hot
# label, so they repeat the label metrics (KL is NLL, soft Brier is Brier, human ECE is ECE) or
# are undefined (no vote entropy to correlate with), and are marked SEVERAL_ANNOTATORS_NOTE.
ANNOTATOR_METRICS = ("jsd", "kl", "total_variation", "soft_brier", "human_ece", "entropy_spearman")
NOT_COMPUTED = (float("nan"), float("nan"), float("nan"))


def not_computable(votes: np.ndarray) -> tuple[str, ...]:
    """The metric names that cannot be computed from votes ``(N, 10)``: `ANNOTATOR_METRICS`
    where every face has a single vote (`bnnfer.data.ferplus.single_annotator`), else none."""
    return ANNOTATOR_METRICS if single_annotator(votes) else ()


# The metrics compared method by method against the classical row (paired intervals).
PAIRED_METRICS = ("jsd", "nll", "ece", "human_ece")
REFERENCE = "classical"
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
    # each annotator and row scored (bnnfer.evaluation.annotators); None where the votes have no
    # names
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
        added: rows whose samples ``(S, N, C)`` were made elsewhere (`bnnfer.evaluation.external`),
        scored
            beside the methods'.
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


def models_digest(folder: str | os.PathLike[str]) -> str:
    """sha256 of a bundle's manifest: it changes whenever any bundled file does."""
    manifest = Path(folder) / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""


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
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "names": evaluation.names.astype(str),
        "votes": evaluation.votes.astype(np.uint8 if compact else evaluation.votes.dtype),
    }
    if not compact:
        arrays["split"] = np.full(len(evaluation.names), evaluation.split)
    for key, samples in evaluation.samples.items():
        arrays[f"{key}.samples"] = samples.astype(np.float16)
        if compact:
            continue
        array = samples.astype(np.float64)
        array /= array.sum(axis=2, keepdims=True)
        arrays[f"{key}.mean"] = array.mean(axis=0).astype(np.float32)
        for score, values in metrics.uncertainty_scores(array).items():
            arrays[f"{key}.{score}"] = values.astype(np.float32)
    write_atomic(paths["predictions"], lambda file: np.savez_compressed(file, **arrays))
    return paths


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` document of a predictions file, without reading its arrays."""
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["meta"]))


def read_predictions(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a predictions file, read without unpickling."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    return meta, arrays
