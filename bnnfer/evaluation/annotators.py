"""Each annotator of a crowd with names, scored, and every model placed among them.

With a split's `bnnfer.data.crowd.Annotations` (who cast each vote), each annotator gets: the votes
cast; the agreement of each vote with the leave-one-out plurality of the face's other votes
(`bnnfer.evaluation.humans.plurality_credit`: 1, ``1/t`` in a t-way tie, 0), averaged over the
annotator's faces with a 95% percentile-bootstrap interval over those faces; the faces where they
stand alone against everyone else (`lone_dissent`); and, from Dawid–Skene (crowd-kit's
``DawidSkene``, an optional extra: ``pip install -e ".[crowd]"``), the confusion matrix
``P(answer | true answer)`` and the accuracy ``sum_t prior_t P(t | t)``.

A model is one more annotator whose vote on every face is its top answer, scored against the
plurality of all the human votes of the face (none of them is its own); its Dawid–Skene
confusion matrix is the M-step's estimate from the crowd's posterior, which the model does not
change. The posterior, renormalised over the 8 emotions, is a reference the metrics against
people can be read against instead of the vote distribution (`reference_distribution`).

Shapes: votes ``(N, 10)`` over ``VOTE_COLUMNS``; a model's probabilities ``(N, C)`` over the
first ``C`` of them; the posterior ``(N, 10)``; confusion matrices ``(10, 10)``, row the true
answer, column the answer given.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..constants import NUM_CLASSES, NUM_VOTE_COLUMNS
from ..data.split import Annotations, FerPlusSplit
from ..data.votes import vote_distribution
from . import humans, metrics, resampled

REFERENCES = ("votes", "dawid-skene")  # what the metrics against people are read against
CROWD_KIT_HINT = 'pip install -e ".[crowd]"'
CROWD_KIT_MISSING = f"Dawid–Skene needs crowd-kit, an optional extra: {CROWD_KIT_HINT}"
COLUMNS = ("annotator", "kind", "votes", "agreement", "agreement_low", "agreement_high", "dissents")
DS_COLUMNS = ("ds_accuracy",)  # present where Dawid–Skene was fitted
SHOWN_PEOPLE = 20  # annotators the printed report lists (annotators.csv holds all)
# what a report read against the Dawid–Skene posterior says of its columns
DAWID_SKENE_NOTE = (
    "The metrics against people (JSD, KL, TV, soft Brier, human ECE, entropy Spearman) are read "
    "against the Dawid–Skene posterior over the emotions (crowd-kit), not the vote "
    "distribution: 'votes' in their names stands for it. Accuracy, NLL and ECE keep the "
    "plurality label."
)


class CrowdKitMissing(ImportError):
    """crowd-kit, which fits Dawid–Skene, is not installed; the message says how to add it."""


def crowd_kit_available() -> bool:
    """Whether crowd-kit can be imported (without importing it: it takes a second or two)."""
    return importlib.util.find_spec("crowdkit") is not None


@dataclass(frozen=True)
class DawidSkene:
    """What Dawid–Skene estimates of a crowd (crowd-kit's EM, started from the majority vote).

    Attributes:
        posterior: ``(N, 10)``, ``P(true answer | the face's votes)`` over ``VOTE_COLUMNS``
            (0 for answers nobody gave).
        prior: ``(10,)``, the share of each true answer.
        confusion: ``(A, 10, 10)``, ``[a, t, c] = P(annotator a answers c | true answer t)``.
    """

    posterior: np.ndarray
    prior: np.ndarray
    confusion: np.ndarray

    def accuracy(self) -> np.ndarray:
        """``(A,)``: each annotator's chance of giving the true answer, ``sum_t prior_t
        confusion[a, t, t]``."""
        return accuracy(self.confusion, self.prior)


def accuracy(confusion: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``sum_t prior_t confusion[..., t, t]`` of confusion matrices ``(..., K, K)`` (row the
    true answer) and the true answers' prior ``(K,)``."""
    return np.diagonal(confusion, axis1=-2, axis2=-1) @ np.asarray(prior, dtype=np.float64)


def dawid_skene(annotations: Annotations, n_iter: int = 100, tol: float = 1e-5) -> DawidSkene:
    """Dawid–Skene fitted to ``annotations`` by crowd-kit (at most ``n_iter`` EM steps, stopping
    when the evidence lower bound gains less than ``tol``). Raises `CrowdKitMissing` without
    crowd-kit."""
    try:
        from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene
    except ImportError:
        raise CrowdKitMissing(CROWD_KIT_MISSING) from None
    frame = pd.DataFrame(
        {"task": annotations.face, "worker": annotations.annotator, "label": annotations.answer}
    )
    with warnings.catch_warnings():  # crowd-kit 1.4 calls pandas in ways pandas 3 deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="crowdkit")
        model = CrowdKitDawidSkene(n_iter=n_iter, tol=tol).fit(frame)
    probas, errors = model.probas_, model.errors_
    posterior = np.zeros((annotations.faces, NUM_VOTE_COLUMNS))
    posterior[np.ix_(probas.index.to_numpy(int), probas.columns.to_numpy(int))] = probas.to_numpy()
    prior = np.zeros(NUM_VOTE_COLUMNS)
    prior[model.priors_.index.to_numpy(int)] = model.priors_.to_numpy()
    confusion = np.zeros((len(annotations.annotators), NUM_VOTE_COLUMNS, NUM_VOTE_COLUMNS))
    who = errors.index.get_level_values(0).to_numpy(int)[:, None]
    given = errors.index.get_level_values(1).to_numpy(int)[:, None]
    confusion[who, errors.columns.to_numpy(int)[None, :], given] = errors.to_numpy()
    return DawidSkene(posterior, prior, confusion)


def posterior_confusion(posterior: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """The confusion matrix of one annotator (or model) answering ``answers`` ``(N,)`` on faces
    whose true answers have ``posterior`` ``(N, K)``, as Dawid–Skene's M-step estimates it:
    ``[t, c] = sum_i T_it [a_i = c] / sum_i T_it`` (0 for a true answer of no posterior mass);
    ``(K, K)``."""
    posterior = np.asarray(posterior, dtype=np.float64)
    answers = np.asarray(answers)
    if posterior.ndim != 2 or answers.shape != (len(posterior),):
        raise ValueError(
            f"posterior must be (N, K) and answers (N,); got {posterior.shape}, {answers.shape}"
        )
    if np.any((answers < 0) | (answers >= posterior.shape[1])):
        raise ValueError(f"answers must index the posterior's {posterior.shape[1]} columns")
    given = np.eye(posterior.shape[1])[answers]  # (N, K)
    mass = posterior.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, posterior.T @ given / mass, 0.0)


def lone_dissent(others: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Where a vote stands alone against everyone else: the face's other votes ``others``
    ``(K, V)`` number at least 2, all name one answer, and ``answer`` ``(K,)`` is another:
    ``n >= 2`` and ``max_c o_c = n`` and ``o_answer = 0`` with ``n = sum_c o_c``; bool
    ``(K,)``."""
    others = np.asarray(others)
    answer = np.asarray(answer)
    n = others.sum(axis=1)
    return (n >= 2) & (others.max(axis=1) == n) & (others[np.arange(len(others)), answer] == 0)


def reference_distribution(
    votes: np.ndarray, reference: str = "votes", fit: DawidSkene | None = None
) -> np.ndarray:
    """What the metrics against people are measured against, ``(N, 8)``: the vote
    distribution over the emotions (``"votes"``), or the Dawid–Skene posterior renormalised
    over them (``"dawid-skene"``, from ``fit``), as the votes are."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if reference == "votes":
        return vote_distribution(votes)
    if fit is None:
        raise ValueError(
            "the Dawid–Skene reference needs a crowd with its annotators' names "
            f"(annotations.csv, docs/data.md) and crowd-kit ({CROWD_KIT_HINT})"
        )
    emotions = fit.posterior[:, :NUM_CLASSES]
    total = emotions.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        faces = np.flatnonzero(total[:, 0] <= 0)[:5].tolist()
        raise ValueError(
            f"the Dawid–Skene posterior gives no emotion any probability on faces {faces}; "
            "read the metrics against the votes"
        )
    return emotions / total


class Crowd(NamedTuple):
    """What an evaluation reads of a split's annotators: the ``distribution`` ``(N, 8)`` the
    metrics against people are measured against, the Dawid–Skene ``fit`` (None without
    identities or crowd-kit), and ``note``: why there is no fit where identities are at hand."""

    distribution: np.ndarray
    fit: DawidSkene | None
    note: str


def read_crowd(split: FerPlusSplit, reference: str = "votes") -> Crowd:
    """The `Crowd` of ``split``: Dawid–Skene fitted wherever the split has identities and
    crowd-kit is installed. The ``"dawid-skene"`` reference without either is a ValueError
    that says what is missing."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if split.annotations is None:
        if reference == "dawid-skene":
            raise ValueError(
                "the Dawid–Skene reference needs the annotators' names, which these votes do "
                "not have (FER+ ships none): bring a folder with annotations.csv, one row per "
                "vote (docs/data.md)"
            )
        return Crowd(split.distribution, None, "")
    try:
        fit = dawid_skene(split.annotations)
    except CrowdKitMissing as missing:
        if reference == "dawid-skene":
            raise ValueError(str(missing)) from None
        return Crowd(split.distribution, None, str(missing))
    return Crowd(reference_distribution(split.votes, reference, fit), fit, "")


@dataclass
class AnnotatorScores:
    """The annotators and the models ranked by agreement, and what the page shows of each.

    Attributes:
        table: one row per annotator and model, by agreement (highest first): `COLUMNS`, and
            `DS_COLUMNS` where Dawid–Skene was fitted.
        confusion: per row, its Dawid–Skene confusion matrix ``(10, 10)``; empty without a fit.
        dissents: per row, the faces ``(D,)`` where it stands alone against everyone else.
        dissent_answers: per row, what it answered on those faces ``(D,)``.
        answers: the columns of ``VOTE_COLUMNS`` anyone answered, a model included (what a
            matrix shows).
        note: why the Dawid–Skene columns are absent ("" where they are present).
    """

    table: pd.DataFrame
    confusion: list[np.ndarray] = field(default_factory=list)
    dissents: list[np.ndarray] = field(default_factory=list)
    dissent_answers: list[np.ndarray] = field(default_factory=list)
    answers: tuple[int, ...] = ()
    note: str = ""


def _mean_interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """The mean of ``values`` ``(K,)`` where defined (not NaN), with a 95% percentile interval
    over ``n_boot`` resamples of the K values."""
    defined = np.isfinite(values)
    if not defined.any():
        return float("nan"), float("nan"), float("nan")
    numerator, denominator = np.where(defined, values, 0.0), defined.astype(np.float64)
    blocks = [
        resampled.ratio(numerator, denominator, counts)
        for counts in metrics.bootstrap_counts(len(values), n_boot, seed)
    ]
    return metrics.percentile_interval(float(values[defined].mean()), np.concatenate(blocks))


def score_annotators(
    annotations: Annotations,
    votes: np.ndarray,
    probs: Mapping[str, np.ndarray] | None = None,
    labels: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    fit: DawidSkene | None = None,
    note: str = "",
) -> AnnotatorScores:
    """Every annotator of ``annotations`` and every model of ``probs`` (``{key: (N, C)}``,
    named by ``labels``) scored on the faces' ``votes`` ``(N, 10)``, which the annotations
    count; the Dawid–Skene columns from ``fit`` where given (``note`` says why not otherwise).
    """
    votes = np.asarray(votes)
    if annotations.faces != len(votes) or not np.array_equal(annotations.counts(), votes):
        raise ValueError("annotations must count to votes (N, 10), face by face")
    if fit is not None and fit.confusion.shape[0] != len(annotations.annotators):
        raise ValueError("fit must be Dawid–Skene of these annotations (one matrix each)")
    if fit is not None and len(fit.posterior) != len(votes):
        raise ValueError(f"fit's posterior must cover the {len(votes)} faces")
    probs, labels = probs or {}, labels or {}
    rows, dissents, dissent_answers, tops = [], [], [], []
    credit = humans.plurality_credit(votes[annotations.face], annotations.answer)  # (M,)
    others = votes[annotations.face] - np.eye(NUM_VOTE_COLUMNS, dtype=np.int64)[annotations.answer]
    alone = lone_dissent(others, annotations.answer)
    for a, name in enumerate(annotations.annotators):
        mine = annotations.annotator == a
        rows.append(_row(name, "person", credit[mine], alone[mine], n_boot, seed))
        dissents.append(annotations.face[mine & alone])
        dissent_answers.append(annotations.answer[mine & alone])
    everyone = np.arange(len(votes))
    for key, p in probs.items():
        top = np.asarray(p).argmax(axis=1)
        added = humans.with_model_vote(votes, p)  # the model's vote, then left out again
        model_alone = lone_dissent(votes, top)
        rows.append(
            _row(
                labels.get(key, key),
                "model",
                humans.plurality_credit(added, top),
                model_alone,
                n_boot,
                seed,
            )
        )
        dissents.append(everyone[model_alone])
        dissent_answers.append(top[model_alone])
        tops.append(top)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    confusion = []
    if fit is not None:
        confusion = [*fit.confusion, *(posterior_confusion(fit.posterior, top) for top in tops)]
        table["ds_accuracy"] = accuracy(np.stack(confusion), fit.prior)
    order = table.sort_values("agreement", ascending=False, kind="stable").index.to_numpy()
    used = tuple(int(c) for c in np.unique(np.concatenate([annotations.answer, *tops])))
    return AnnotatorScores(
        table=table.loc[order].reset_index(drop=True),
        confusion=[confusion[i] for i in order] if confusion else [],
        dissents=[dissents[i] for i in order],
        dissent_answers=[dissent_answers[i] for i in order],
        answers=used,
        note="" if fit is not None else note,
    )


def score_split(
    split: FerPlusSplit,
    probs: Mapping[str, np.ndarray],
    labels: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    crowd: Crowd | None = None,
) -> AnnotatorScores | None:
    """`score_annotators` of ``split``'s annotators with ``crowd``'s Dawid–Skene fit (its
    `read_crowd`, read here when None); None where the split's votes have no names."""
    if split.annotations is None:
        return None
    if crowd is None:
        crowd = read_crowd(split)
    return score_annotators(
        split.annotations, split.votes, probs, labels, n_boot, seed, crowd.fit, crowd.note
    )


def _row(
    name: str, kind: str, credit: np.ndarray, alone: np.ndarray, n_boot: int, seed: int
) -> dict[str, object]:
    value, low, high = _mean_interval(credit, n_boot, seed)
    return {
        "annotator": name,
        "kind": kind,
        "votes": len(credit),
        "agreement": value,
        "agreement_low": low,
        "agreement_high": high,
        "dissents": int(alone.sum()),
    }


def markdown(scores: AnnotatorScores, shown: int = SHOWN_PEOPLE) -> str:
    """The annotators and models in Markdown, ranked (the first ``shown`` people and every
    model): what ``bnnfer evaluate`` prints after the human baselines."""
    table = scores.table
    people = int((table["kind"] == "person").sum())
    keep = (table["kind"] == "model") | ((table["kind"] == "person").cumsum() <= shown)
    ds = "ds_accuracy" in table.columns
    lines = [
        f"The annotators ({people}) and the models among them, by agreement of their votes with "
        "the leave-one-out plurality of the other votes of each face (a model's vote: its top "
        "answer, against all the human votes); dissents: faces where one stands alone against "
        "everyone else"
        + ("; Dawid–Skene accuracy from crowd-kit" if ds else f" ({scores.note})")
        + (
            f". The first {shown} people are shown; annotators.csv holds all:"
            if people > shown
            else ":"
        ),
        "",
        "| Annotator | Kind | Votes | Agreement | Dissents |"
        + (" Dawid–Skene accuracy |" if ds else ""),
        "| --- | --- | --- | --- | --- |" + (" --- |" if ds else ""),
    ]
    for _, row in table[keep].iterrows():
        agreement = (
            "n/a"
            if not np.isfinite(row["agreement"])
            else f"{100 * row['agreement']:.1f}% [{100 * row['agreement_low']:.1f}, "
            f"{100 * row['agreement_high']:.1f}]"
        )
        cells = [row["annotator"], row["kind"], str(row["votes"]), agreement, str(row["dissents"])]
        if ds:
            cells.append(f"{row['ds_accuracy']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
