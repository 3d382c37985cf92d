"""The model among the annotators on one set of faces: the human baselines of
`bnnfer.evaluation.humans` summarised with 95% bootstrap intervals over faces, each row placed on
the crowd-of-k curve.

`human_baselines` takes the vote counts ``(N, V)`` and each row's mean predictive distribution
``(N, C)`` and returns a `Baselines`: the annotators' pairwise agreement, the crowd-of-k curve
(k = 1 ... K), the leave-one-out crowd's log score, Fleiss' kappa and Krippendorff's alpha, and
per row its agreement with a held-out annotator, its log score, how many annotators it is worth
and the crowd's reliability with it added as one more rater. Every interval of a face-mean
quantity comes from the same resamples (`bnnfer.evaluation.metrics.bootstrap_counts`), so a row's
"worth" is read against the curve of its own resample. `to_json` / `from_json` carry it in
``metrics.json``; `markdown` is what ``bnnfer evaluate`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from . import humans, metrics, resampled

Interval = tuple[float, float, float]  # (value, low, high)
# Krippendorff's alpha costs about 10 ms on FER+ Valid, so the reliability coefficients take
# fewer resamples than the face means (whose resamples cost microseconds each).
RELIABILITY_RESAMPLES = 200


@dataclass
class RowBaseline:
    """One model placed among the annotators."""

    agreement: Interval  # chance its top answer equals a held-out annotator's vote
    log_score: Interval  # mean ln p(held-out emotion vote)
    worth: Interval  # k of the crowd-of-k curve it matches (0: below one; inf: above K)
    fleiss_kappa_with: Interval | None  # the crowd's kappa with the model as one more rater
    alpha_with: Interval  # Krippendorff's alpha likewise


@dataclass
class Baselines:
    """The human baselines of a set of faces, and each row among them."""

    faces: int
    max_k: int  # K: the largest crowd of others any face has
    curve_faces: list[int]  # faces with n >= k + 1, per k = 1 ... K
    pairwise: Interval  # two distinct annotators agree
    curve: list[Interval]  # crowd of k = 1 ... K predicts a held-out annotator
    crowd_log_score: Interval  # the leave-one-out crowd's smoothed distribution
    emotion_share: float  # share of votes that name an emotion: a model's ceiling
    fleiss_kappa: Interval | None  # None where faces have unequal numbers of raters
    alpha: Interval
    rows: dict[str, RowBaseline] = field(default_factory=dict)


def _resampled_means(per_face: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of a per-face quantity ``(N,)`` over the faces where it is defined (not NaN),
    in each resample ``counts`` ``(R, N)``: ``(R,)`` (the point value is ``np.nanmean``)."""
    defined = np.isfinite(per_face)
    return resampled.ratio(np.where(defined, per_face, 0.0), defined.astype(np.float64), counts)


def _interval(point: float, resamples: list[np.ndarray]) -> Interval:
    return metrics.percentile_interval(point, np.concatenate(resamples))


def _worth_interval(point: float, resamples: np.ndarray) -> Interval:
    """Percentiles that keep `humans.BELOW_ONE` and `humans.ABOVE_ALL` as they are: the
    empirical quantile (``inverted_cdf``) returns one of the resampled values."""
    low, high = np.quantile(resamples, [0.025, 0.975], method="inverted_cdf")
    return float(point), float(low), float(high)


def _reliability(coefficient: Any, votes: np.ndarray, n_boot: int, seed: int) -> Interval:
    """A reliability coefficient of ``votes`` with a percentile interval over resampled faces."""
    values = [
        coefficient(votes[index]) for index in metrics.resample_indices(len(votes), n_boot, seed)
    ]
    return metrics.percentile_interval(coefficient(votes), np.asarray(values))


def _equal_raters(votes: np.ndarray) -> bool:
    return len(np.unique(votes.sum(axis=1))) == 1


@dataclass
class Crowd:
    """The annotators' side of the baselines: computed once for a set of faces, then every row
    is placed in it (`place_row`) on the same bootstrap resamples."""

    votes: np.ndarray  # (N, V) counts
    curve: np.ndarray  # (N, K): each face's crowd-of-k agreement, NaN where n < k + 1
    resampled_curve: np.ndarray  # (n_boot, K): the mean curve of each resample
    n_boot: int
    seed: int
    reliability_boot: int
    summary: Baselines  # the crowd's figures, no rows yet


def crowd_of(
    votes: np.ndarray,
    classes: int,
    n_boot: int = 1000,
    seed: int = 0,
    reliability_boot: int = RELIABILITY_RESAMPLES,
) -> Crowd:
    """The crowd of ``votes`` ``(N, V)``, for rows that name the first ``classes`` answers,
    with 95% percentile-bootstrap intervals over faces (``n_boot`` resamples,
    ``reliability_boot`` for kappa and alpha; 0 gives their values without intervals).

    Raises ValueError (from `bnnfer.evaluation.humans`) where no face has two votes: there is no
    crowd."""
    votes = np.asarray(votes)
    curve = humans.crowd_curve(votes)  # (N, K)
    pairwise = humans.pairwise_agreement(votes)
    crowd_log = humans.crowd_log_score(votes, classes=classes)
    collected: dict[str, list[np.ndarray]] = {"pairwise": [], "crowd_log": [], "curve": []}
    for counts in metrics.bootstrap_counts(len(votes), n_boot, seed):
        collected["pairwise"].append(_resampled_means(pairwise, counts))
        collected["crowd_log"].append(_resampled_means(crowd_log, counts))
        collected["curve"].append(
            np.stack([_resampled_means(column, counts) for column in curve.T], axis=1)
        )  # (R, K)
    resampled_curve = np.concatenate(collected["curve"])
    point_curve = np.nanmean(curve, axis=0)  # (K,)
    equal = _equal_raters(votes)
    summary = Baselines(
        faces=len(votes),
        max_k=curve.shape[1],
        curve_faces=[int(n) for n in np.isfinite(curve).sum(axis=0)],
        pairwise=_interval(float(np.nanmean(pairwise)), collected["pairwise"]),
        curve=[
            metrics.percentile_interval(point, resampled_curve[:, k])
            for k, point in enumerate(point_curve)
        ],
        crowd_log_score=_interval(float(np.nanmean(crowd_log)), collected["crowd_log"]),
        emotion_share=float(votes[:, :classes].sum() / votes.sum()),
        fleiss_kappa=(
            _reliability(humans.fleiss_kappa, votes, reliability_boot, seed) if equal else None
        ),
        alpha=_reliability(humans.krippendorff_alpha, votes, reliability_boot, seed),
    )
    return Crowd(votes, curve, resampled_curve, n_boot, seed, reliability_boot, summary)


def place_row(crowd: Crowd, probs: np.ndarray) -> RowBaseline:
    """One model, its mean predictive distribution ``probs`` ``(N, C)``, among the crowd: its
    figures on the crowd's own resamples, so its worth is read against each resample's curve."""
    votes = crowd.votes
    agreement = humans.model_agreement(probs, votes)
    log_score = humans.held_out_log_score(probs, votes)
    resampled_agreement, resampled_log_score = [], []
    for counts in metrics.bootstrap_counts(len(votes), crowd.n_boot, crowd.seed):
        resampled_agreement.append(_resampled_means(agreement, counts))
        resampled_log_score.append(_resampled_means(log_score, counts))
    point_agreement = float(np.nanmean(agreement))
    point_curve = np.array([value for value, _, _ in crowd.summary.curve])
    added = humans.with_model_vote(votes, probs)
    equal, boot, seed = _equal_raters(votes), crowd.reliability_boot, crowd.seed
    return RowBaseline(
        agreement=_interval(point_agreement, resampled_agreement),
        log_score=_interval(float(np.nanmean(log_score)), resampled_log_score),
        worth=_worth_interval(
            float(humans.worth_annotators(point_curve, point_agreement)),
            humans.worth_annotators(crowd.resampled_curve, np.concatenate(resampled_agreement)),
        ),
        fleiss_kappa_with=_reliability(humans.fleiss_kappa, added, boot, seed) if equal else None,
        alpha_with=_reliability(humans.krippendorff_alpha, added, boot, seed),
    )


def human_baselines(
    votes: np.ndarray,
    probs: Mapping[str, np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    reliability_boot: int = RELIABILITY_RESAMPLES,
) -> Baselines:
    """The human baselines of ``votes`` ``(N, V)`` and each row of ``probs`` ``{key: (N, C)}``
    among them (`crowd_of`, then `place_row` for each)."""
    crowd = crowd_of(votes, _classes(probs, votes), n_boot, seed, reliability_boot)
    return replace(crowd.summary, rows={key: place_row(crowd, p) for key, p in probs.items()})


def _classes(probs: Mapping[str, np.ndarray], votes: np.ndarray) -> int:
    """The number of answers the rows name (8 for FER+), or every vote column without rows."""
    widths = {np.shape(p)[1] for p in probs.values()}
    if len(widths) > 1:
        raise ValueError(f"rows name different numbers of answers: {sorted(widths)}")
    return widths.pop() if widths else np.shape(votes)[1]


def to_json(baselines: Baselines) -> dict[str, Any]:
    """A JSON-ready dict (`humans.ABOVE_ALL` is written as JSON's ``Infinity``)."""
    return asdict(baselines)


def from_json(document: Mapping[str, Any]) -> Baselines:
    """The `Baselines` that `to_json` wrote."""

    def interval(cell: Any) -> Interval | None:
        return None if cell is None else (float(cell[0]), float(cell[1]), float(cell[2]))

    rows = {
        key: RowBaseline(**{name: interval(cell) for name, cell in row.items()})
        for key, row in document["rows"].items()
    }
    plain = {k: v for k, v in document.items() if k not in ("rows",)}
    for name in ("pairwise", "crowd_log_score", "fleiss_kappa", "alpha"):
        plain[name] = interval(plain[name])
    plain["curve"] = [interval(cell) for cell in plain["curve"]]
    return Baselines(**plain, rows=rows)


def _bound(worth: float, max_k: int) -> str:
    if worth == humans.BELOW_ONE:
        return "<1"
    if worth == humans.ABOVE_ALL:
        return f">{max_k}"
    return f"{worth:.1f}"


def worth_range(worth: Interval, max_k: int) -> str:
    """A row's worth with its interval: "about 4.0 [3.1, 4.9]", "below one annotator [<1, 1.3]",
    "above 9 [8.2, >9]"."""
    value, low, high = worth
    return f"{humans.worth_text(value, max_k)} [{_bound(low, max_k)}, {_bound(high, max_k)}]"


def worth_sentence(label: str, worth: Interval, max_k: int) -> str:
    """One sentence placing a row among the annotators: "Ensemble, soft-trained: worth about
    4.0 annotators [3.1, 4.9]"."""
    value = worth[0]
    if value == humans.BELOW_ONE:
        words = "worth less than one annotator"
    elif value == humans.ABOVE_ALL:
        words = f"worth more than the crowd of {max_k}"
    else:
        words = f"worth about {value:.1f} annotators"
    return f"{label}: {words} [{_bound(worth[1], max_k)}, {_bound(worth[2], max_k)}]"


def markdown(baselines: Baselines, labels: Mapping[str, str] | None = None) -> str:
    """The human baselines in Markdown: what ``bnnfer evaluate`` prints after the metrics."""
    labels = labels or {}
    b = baselines
    kappa = (
        "n/a (faces have unequal numbers of raters)"
        if b.fleiss_kappa is None
        else _percent_free(b.fleiss_kappa)
    )
    curve = " | ".join(f"{_percent(c)}" for c in b.curve)
    lines = [
        f"Human baselines ({b.faces} faces; agreement is with the votes as cast, "
        f"{100 * b.emotion_share:.1f}% of which name an emotion, the most a model can match):",
        "",
        f"- two distinct annotators agree: {_percent(b.pairwise)}",
        f"- the crowd's reliability: Fleiss' kappa {kappa}, Krippendorff's alpha "
        f"{_percent_free(b.alpha)}",
        f"- log score of the leave-one-out crowd (smoothed) for a held-out emotion vote: "
        f"{_percent_free(b.crowd_log_score)}",
        "",
        "A held-out annotator's vote equals the plurality of k others of the face (ties split):",
        "",
        "| k | " + " | ".join(str(k) for k in range(1, b.max_k + 1)) + " |",
        "|" + " --- |" * (b.max_k + 1),
        f"| agreement | {curve} |",
        "",
        "| Method | Agrees with a held-out annotator | Log score | Worth k annotators "
        "| Fleiss' kappa with it | Krippendorff's alpha with it |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in b.rows.items():
        worth = worth_range(row.worth, b.max_k)
        with_kappa = (
            "n/a" if row.fleiss_kappa_with is None else _percent_free(row.fleiss_kappa_with)
        )
        lines.append(
            f"| {labels.get(key, key)} | {_percent(row.agreement)} | "
            f"{_percent_free(row.log_score)} | {worth} | {with_kappa} | "
            f"{_percent_free(row.alpha_with)} |"
        )
    return "\n".join(lines) + "\n"


def _percent(cell: Interval) -> str:
    value, low, high = cell
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def _percent_free(cell: Interval) -> str:
    value, low, high = cell
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"
