"""What the dashboard shows, computed from `SplitPredictions`: tables, filters, curves, verdicts.

Pure functions returning pandas DataFrames or NumPy arrays, so the pages only lay them out:

* `faces_frame`: one row per face (human statistics and, per method, prediction, correctness,
  confidence, uncertainty and JSD to the votes), the table behind the face browser;
* `PRESETS` and `apply_filters`: the browser's filters and its named presets;
* `comparison_table`: the methods' metrics with bootstrap intervals, row by row;
* `reliability_frame`: reliability-diagram bins against the plurality label or the annotators;
* `rejection_curve`, `confusion`: the uncertainty page's curves and matrices;
* `paper_claims`: the paper's two claims with the verdict these numbers give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd

from ..constants import EMOTIONS, NUM_CLASSES
from ..data.votes import SEVERAL_ANNOTATORS_NOTE, barsoum_majority, single_annotator
from ..inference.cache import SplitPredictions
from ..training.bundle import row_sampled
from . import metrics
from .baselines import Baselines, Crowd, RowBaseline, crowd_of, place_row, worth_sentence
from .baselines import from_json as baselines_from_json
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

# the Overview's columns, in order
OVERVIEW_METRICS = (
    "accuracy",
    "accuracy_majority",
    "nll",
    "ece",
    "jsd",
    "human_ece",
    "entropy_spearman",
)


def faces_frame(preds: SplitPredictions, keys: Sequence[str]) -> pd.DataFrame:
    """One row per face. Columns: ``name``, ``human`` (plurality emotion), ``agreement``,
    ``vote_entropy``, ``votes``; per method key k: ``k:pred``, ``k:correct``, ``k:confidence``,
    ``k:entropy``, ``k:aleatoric``, ``k:mi``, ``k:jsd``; and ``disagreement`` (mean pairwise JSD
    between the methods' distributions) with ``n_predicted`` (distinct predicted emotions)."""
    human = preds.human
    frame = pd.DataFrame(
        {
            "index": np.arange(len(preds.names)),
            "name": preds.names.astype(str),
            "human": [EMOTIONS[i] for i in human["plurality"]],
            "agreement": human["agreement"],
            "vote_entropy": human["entropy"],
            "votes": human["valid_votes"],
        }
    )
    means = {}
    for key in keys:
        samples = preds.samples64(key)
        mean = samples.mean(axis=0)
        means[key] = mean
        predicted = mean.argmax(axis=1)
        frame[f"{key}:pred"] = [EMOTIONS[i] for i in predicted]
        frame[f"{key}:correct"] = predicted == human["plurality"]
        frame[f"{key}:confidence"] = mean.max(axis=1)
        frame[f"{key}:entropy"] = metrics.entropy(mean)
        frame[f"{key}:aleatoric"] = metrics.expected_entropy(samples)
        frame[f"{key}:mi"] = metrics.mutual_information(samples)
        frame[f"{key}:jsd"] = metrics.js_divergence(human["distribution"], mean)
    if len(keys) >= 2:
        pairs = [metrics.js_divergence(means[a], means[b]) for a, b in combinations(keys, 2)]
        frame["disagreement"] = np.mean(pairs, axis=0)
        frame["n_predicted"] = frame[[f"{k}:pred" for k in keys]].nunique(axis=1)
    else:
        frame["disagreement"] = 0.0
        frame["n_predicted"] = 1
    return frame


@dataclass(frozen=True)
class Filters:
    """The face browser's filters; None or the full range means "any"."""

    human: Sequence[str] | None = None  # plurality emotions to keep
    method: str | None = None  # the method the next two filters and the sort refer to
    predicted: Sequence[str] | None = None  # that method's predicted emotions to keep
    correct: bool | None = None  # that method right (True) / wrong (False) on the plurality
    agreement: tuple[float, float] = (0.0, 1.0)
    vote_entropy: tuple[float, float] = (0.0, float(np.log(8)))


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    keep = frame["agreement"].between(*filters.agreement) & frame["vote_entropy"].between(
        filters.vote_entropy[0] - 1e-12, filters.vote_entropy[1] + 1e-12
    )
    if filters.human:
        keep &= frame["human"].isin(list(filters.human))
    if filters.method is not None:
        if filters.predicted:
            keep &= frame[f"{filters.method}:pred"].isin(list(filters.predicted))
        if filters.correct is not None:
            keep &= frame[f"{filters.method}:correct"] == filters.correct
    return frame[keep]


SORTS = {
    "vote entropy": ("vote_entropy", None),
    "model entropy": ("{m}:entropy", None),
    "mutual information": ("{m}:mi", None),
    "JSD to votes": ("{m}:jsd", None),
    "disagreement between methods": ("disagreement", None),
    "agreement of annotators": ("agreement", None),
}


def sort_faces(frame: pd.DataFrame, by: str, method: str, descending: bool = True) -> pd.DataFrame:
    if by not in SORTS:
        raise ValueError(f"unknown sort {by!r}; choose from {list(SORTS)}")
    column = SORTS[by][0].format(m=method)
    return frame.sort_values(column, ascending=not descending, kind="stable")


@dataclass(frozen=True)
class Preset:
    description: str
    sort: str
    descending: bool
    model_entropy_below: float | None = None  # quantile of the method's entropy
    model_entropy_above: float | None = None
    agreement_at_least: float | None = None
    agreement_at_most: float | None = None


PRESETS: dict[str, Preset] = {
    "most ambiguous to people": Preset(
        "faces whose annotators disagreed most (highest vote entropy)", "vote entropy", True
    ),
    "models sure but people split": Preset(
        "the method is among its 25% most confident faces, yet at most half the annotators "
        "chose the plurality emotion",
        "vote entropy",
        True,
        model_entropy_below=0.25,
        agreement_at_most=0.5,
    ),
    "people agree but models unsure": Preset(
        "at least 90% of annotators agree, yet the method's entropy is among its top 25%",
        "model entropy",
        True,
        model_entropy_above=0.75,
        agreement_at_least=0.9,
    ),
    "methods disagree": Preset(
        "the methods' distributions differ most from each other",
        "disagreement between methods",
        True,
    ),
    "most epistemic uncertainty": Preset(
        "highest mutual information (the samples disagree)", "mutual information", True
    ),
}


def apply_preset(frame: pd.DataFrame, name: str, method: str) -> pd.DataFrame:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {list(PRESETS)}")
    preset = PRESETS[name]
    entropy = frame[f"{method}:entropy"]
    keep = pd.Series(True, index=frame.index)
    if preset.model_entropy_below is not None:
        keep &= entropy <= entropy.quantile(preset.model_entropy_below)
    if preset.model_entropy_above is not None:
        keep &= entropy >= entropy.quantile(preset.model_entropy_above)
    if preset.agreement_at_least is not None:
        keep &= frame["agreement"] >= preset.agreement_at_least
    if preset.agreement_at_most is not None:
        keep &= frame["agreement"] <= preset.agreement_at_most
    return sort_faces(frame[keep], preset.sort, method, preset.descending)


def _put(row: dict[str, object], name: str, interval: tuple[float, float, float]) -> None:
    """``row[name]``, ``row[name_low]``, ``row[name_high]`` from ``(value, low, high)``."""
    row[name], row[f"{name}_low"], row[f"{name}_high"] = interval


def comparison_row(
    preds: SplitPredictions,
    key: str,
    labels: dict[str, str],
    columns: Sequence[str] = OVERVIEW_METRICS,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, object]:
    """One method's row of `comparison_table`: per metric ``metric``, ``metric_low`` and
    ``metric_high``; and, when ``preds`` hold the classical row and this is another, each of
    `PAIRED_METRICS` minus the classical network's as ``{metric}_vs_classical`` with a paired
    bootstrap interval (`bnnfer.evaluation.registry.paired_difference`). A row depends on its own
    samples and the classical row's only, so a page can cache rows one by one as they arrive.
    Metrics that need several annotators per face are NaN where each face has one vote
    (`bnnfer.evaluation.registry.not_computable`)."""
    votes = preds.human["distribution"]
    plurality = preds.human["plurality"]
    majority, _ = barsoum_majority(preds.votes)
    skipped = not_computable(preds.votes)
    faces = per_face(preds.samples[key], plurality, votes, majority)
    row: dict[str, object] = {
        "key": key,
        "method": labels.get(key, key),
        "S": len(preds.samples[key]),
    }
    for name in columns:
        summary = NOT_COMPUTED if name in skipped else summarise(METRICS[name], faces, n_boot, seed)
        _put(row, name, summary)
    if REFERENCE in preds.samples and key != REFERENCE:
        reference = per_face(preds.samples[REFERENCE], plurality, votes, majority)
        for name in PAIRED_METRICS:
            paired = (
                NOT_COMPUTED
                if name in skipped
                else paired_difference(METRICS[name], faces, reference, n_boot, seed)
            )
            _put(row, f"{name}_vs_{REFERENCE}", paired)
    return row


def comparison_table(
    preds: SplitPredictions,
    keys: Sequence[str],
    labels: dict[str, str],
    columns: Sequence[str] = OVERVIEW_METRICS,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows: methods (`comparison_row` each)."""
    return pd.DataFrame([comparison_row(preds, key, labels, columns, n_boot, seed) for key in keys])


def comparison_from_evaluation(
    document: dict,
    preds: SplitPredictions,
    keys: Sequence[str],
    labels: dict[str, str],
    models_digest: str,
    columns: Sequence[str] = OVERVIEW_METRICS,
) -> pd.DataFrame | None:
    """`comparison_table`'s frame read from ``bnnfer evaluate``'s ``metrics.json`` document, or
    None when that document is of other models, another split or another S than ``preds``, or
    lacks a method, or read the metrics against people against another reference
    (``--reference``): the evaluation's intervals (1,000 resamples by default) then serve the
    page at no cost. A metric the document marks as not computed (null) is NaN."""
    mc_samples = {len(preds.samples[k]) for k in keys if row_sampled(k)}
    if (
        document.get("models_digest") != models_digest
        or document.get("split") != preds.split
        or document.get("reference", "votes") != preds.reference
        or any(s != document.get("samples") for s in mc_samples)
        or any(k not in document.get("metrics", {}) for k in keys)
        or any(c not in document["metrics"][k] for k in keys for c in columns)
    ):
        return None
    paired = document.get(f"minus_{REFERENCE}", {})
    rows = []
    for key in keys:
        cells = document["metrics"][key]
        row: dict[str, object] = {
            "key": key,
            "method": labels.get(key, key),
            "S": len(preds.samples[key]),
        }
        for name in columns:
            _put(row, name, _interval(cells[name]))
        for name, cell in paired.get(key, {}).items() if REFERENCE in keys else ():
            _put(row, f"{name}_vs_{REFERENCE}", _interval(cell))
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(cell: dict) -> tuple[float, float, float]:
    """``(value, low, high)`` of a ``metrics.json`` cell; NaN for null (not computed)."""
    return tuple(float("nan") if cell[k] is None else cell[k] for k in ("value", "low", "high"))


def reliability_frame(
    preds: SplitPredictions,
    key: str,
    n_bins: int = 10,
    strategy: metrics.BinStrategy = "width",
    against: str = "label",
) -> pd.DataFrame:
    """Bins of top-label confidence with their count, mean confidence and mean outcome; the
    outcome is correctness on the plurality label (``against="label"``) or the share of
    annotators who chose the predicted class (``against="human"``)."""
    mean = preds.mean(key)
    human = preds.human
    if against == "label":
        bins = metrics.reliability_diagram(mean, human["plurality"], n_bins, strategy)
    elif against == "human":
        bins = metrics.human_reliability_diagram(mean, human["distribution"], n_bins, strategy)
    else:
        raise ValueError(f"against must be 'label' or 'human', got {against!r}")
    frame = pd.DataFrame({k: v for k, v in bins.items() if k != "bin"})
    frame.index.name = "bin"
    frame["gap"] = frame["accuracy"] - frame["confidence"]
    return frame


def faces_in_bin(
    preds: SplitPredictions,
    key: str,
    bin_index: int,
    n_bins: int,
    strategy: metrics.BinStrategy,
) -> np.ndarray:
    """Indices of the faces whose confidence falls in ``bin_index`` (same binning as above)."""
    mean = preds.mean(key)
    bins = metrics.reliability_diagram(mean, preds.human["plurality"], n_bins, strategy)
    return np.flatnonzero(bins["bin"] == bin_index)


def ece_frame(
    preds: SplitPredictions, keys: Sequence[str], labels: dict[str, str], n_bins: int = 15
) -> pd.DataFrame:
    """Every ECE variant per method, against the label and against the annotators (the human
    ECE column says `SEVERAL_ANNOTATORS_NOTE` where each face has one vote)."""
    human = preds.human
    single = single_annotator(preds.votes)
    rows = []
    for key in keys:
        mean = preds.mean(key)
        rows.append(
            {
                "method": labels.get(key, key),
                "ECE": metrics.ece(mean, human["plurality"], n_bins),
                "ECE (unweighted)": metrics.ece(mean, human["plurality"], n_bins, "uniform"),
                "adaptive ECE": metrics.adaptive_ece(mean, human["plurality"], n_bins),
                "classwise ECE": metrics.classwise_ece(mean, human["plurality"], n_bins),
                "MCE": metrics.mce(mean, human["plurality"], n_bins),
                "human ECE": SEVERAL_ANNOTATORS_NOTE
                if single
                else metrics.human_ece(mean, human["distribution"], n_bins),
            }
        )
    return pd.DataFrame(rows)


def rejection_curve(
    preds: SplitPredictions, key: str, score: str = "predictive_entropy", points: int = 21
) -> pd.DataFrame:
    """Accuracy on the faces kept when the most uncertain share (0 .. 95%) is set aside."""
    samples = preds.samples64(key)
    values = metrics.uncertainty_scores(samples)[score]
    if score == "max_probability":
        values = -values  # higher = less sure, like the others
    correct = samples.mean(axis=0).argmax(axis=1) == preds.human["plurality"]
    order = np.argsort(values, kind="stable")  # most certain first
    n = len(order)
    rows = []
    for rejected in np.linspace(0.0, 0.95, points):
        kept = order[: max(1, round(n * (1 - rejected)))]
        rows.append({"rejected": rejected, "accuracy": float(correct[kept].mean())})
    return pd.DataFrame(rows)


def confusion(preds: SplitPredictions, key: str) -> np.ndarray:
    """Counts ``(C, C)``: rows the human plurality emotion, columns the method's prediction."""
    predicted = preds.mean(key).argmax(axis=1)
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    np.add.at(matrix, (preds.human["plurality"], predicted), 1)
    return matrix


def _beats(table: pd.DataFrame, a: str, b: str, metric: str) -> str:
    """'better', 'worse' or 'tied' for row a against row b on a lower-is-better metric.

    Read from the paired difference ``{metric}_vs_{b}`` when the table has it (an interval
    without 0 decides), else from the two rows' own intervals (overlap = tie).
    """
    ra, rb = table.set_index("key").loc[a], table.set_index("key").loc[b]
    paired = f"{metric}_vs_{b}"
    if paired in table.columns and np.isfinite(ra[paired]):
        low, high = ra[f"{paired}_low"], ra[f"{paired}_high"]
    else:
        low = ra[f"{metric}_low"] - rb[f"{metric}_high"]
        high = ra[f"{metric}_high"] - rb[f"{metric}_low"]
    if high < 0:
        return "better"
    if low > 0:
        return "worse"
    return "tied"


def paper_claims(table: pd.DataFrame) -> list[dict[str, str]]:
    """The paper's two claims with the verdict this table gives (needs ``jsd``, ``ece``,
    ``human_ece`` columns and the ``classical`` row). Claim 1's verdict also names the
    non-Bayesian controls (temperature scaling, soft training) that are closer to the votes
    than the classical network: closeness alone does not single out Bayesian inference."""
    keys = list(table["key"])
    claims = []
    if "classical" in keys:
        bayes = [k for k in ("mc_dropout", "mc_dropconnect", "ensemble") if k in keys]
        verdicts = {k: _beats(table, k, "classical", "jsd") for k in bayes}
        names = table.set_index("key")["method"] if "method" in table else pd.Series(dtype=str)
        closer = [str(names.get(k, k)) for k, v in verdicts.items() if v == "better"]
        farther = [str(names.get(k, k)) for k, v in verdicts.items() if v == "worse"]
        if bayes and len(closer) == len(bayes):
            verdict = "holds: every Bayesian method is closer to the votes (JSD, paired intervals)"
        elif closer:
            verdict = f"holds in part: closer for {', '.join(closer)}; " + (
                f"farther for {', '.join(farther)}" if farther else "the others are tied"
            )
        elif farther:
            verdict = f"does not hold: farther from the votes for {', '.join(farther)}"
        else:
            verdict = "not shown: no Bayesian method's JSD differs from the classical one's"
        controls = [k for k in ("classical_ts", "classical_soft") if k in keys]
        also = [
            str(names.get(k, k))
            for k in controls
            if _beats(table, k, "classical", "jsd") == "better"
        ]
        if also:
            verdict += f"; closer too without Bayesian inference: {', '.join(also)}"
        claims.append(
            {
                "claim": "Bayesian methods give probabilities closer to the human votes than the "
                "classical network",
                "verdict": verdict,
            }
        )
        label_ece = table.set_index("key")["ece"]
        human_ece = table.set_index("key")["human_ece"]
        ranks_label = label_ece.rank()
        ranks_human = human_ece.rank()
        reordered = bool((ranks_label != ranks_human).any())
        claims.append(
            {
                "claim": "Calibration measured against a single label behaves strangely when "
                "several classes are right",
                "verdict": (
                    "holds: ranking the methods by ECE against the plurality label and by ECE "
                    "against the annotators' shares gives different orders"
                    if reordered
                    else "not visible here: both calibration views rank the methods alike"
                ),
            }
        )
    return claims


def crowd(votes: np.ndarray, n_boot: int = 200, seed: int = 0) -> Crowd | None:
    """The annotators of votes ``(N, 10)`` as a crowd to place rows in
    (`bnnfer.evaluation.baselines`), bootstrapped here; the reliability coefficients without
    intervals (Krippendorff's alpha costs 10 ms a resample, and a page shows the curve). None where
    no face has two votes."""
    if votes.sum(axis=1).max() < 2:
        return None
    return crowd_of(votes, NUM_CLASSES, n_boot=n_boot, seed=seed, reliability_boot=0)


def place(found: Crowd, preds: SplitPredictions, key: str) -> RowBaseline:
    """One row of ``preds`` among the crowd ``found``."""
    return place_row(found, preds.mean(key))


def among(found: Crowd, rows: dict[str, RowBaseline]) -> Baselines:
    """The crowd's figures with ``rows`` placed in it."""
    return replace(found.summary, rows=dict(rows))


def among_annotators_from_evaluation(
    document: dict, keys: Sequence[str], comparable: bool
) -> Baselines | None:
    """The ``human_baselines`` of ``bnnfer evaluate``'s ``metrics.json``, narrowed to ``keys``;
    None where the document is of other predictions (``comparable`` is what
    `comparison_from_evaluation` decided) or lacks a row or the section."""
    section = document.get("human_baselines")
    if not comparable or section is None or any(k not in section["rows"] for k in keys):
        return None
    found = baselines_from_json(section)
    found.rows = {key: found.rows[key] for key in keys}
    return found


def crowd_frame(found: Baselines) -> pd.DataFrame:
    """The crowd-of-k curve as rows ``k``, ``agreement``, ``low``, ``high``, ``faces``."""
    return pd.DataFrame(
        [
            {"k": k, "agreement": value, "low": low, "high": high, "faces": faces}
            for k, ((value, low, high), faces) in enumerate(
                zip(found.curve, found.curve_faces, strict=True), start=1
            )
        ]
    )


def placed_rows(found: Baselines, labels: dict[str, str]) -> pd.DataFrame:
    """One row per model: ``key``, ``method``, agreement with a held-out annotator and its
    interval, log score, the worth in k and the sentence that says it."""
    return pd.DataFrame(
        [
            {
                "key": key,
                "method": labels.get(key, key),
                "agreement": row.agreement[0],
                "low": row.agreement[1],
                "high": row.agreement[2],
                "log_score": row.log_score[0],
                "worth": row.worth[0],
                "sentence": worth_sentence(labels.get(key, key), row.worth, found.max_k),
            }
            for key, row in found.rows.items()
        ]
    )
