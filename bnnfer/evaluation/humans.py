"""Human baselines as pure functions: how often annotators agree, how well a crowd of k others
predicts one more annotator, and where a model's predictive distribution stands among them.

Shapes: ``votes`` are int vote counts ``(N, V)``, one row per face and one column per answer an
annotator could give (FER+'s ``V = 10``: the 8 emotions, ``unknown``, ``NF``); ``probs`` a
model's predictive distribution ``(N, C)`` over the first ``C <= V`` columns (the 8 emotions).
Per-face functions return ``(N,)``, NaN where the face has too few votes for the quantity.

Every agreement here is with the votes as cast, all ``V`` columns: on FER+ each face has 10
annotators, and one who answered ``unknown`` disagrees with anyone who named an emotion, a model
included (a model that names only emotions can agree with no more than the share of votes that
are emotions). The log scores are the exception: a model gives ``unknown`` no probability, so they
hold out an emotion vote only.

"Held out" means: one of the face's ``n`` annotators, drawn uniformly, is the one to predict,
and the predictor sees only the others. Ties in a plurality are split evenly: a held-out vote
among ``t`` tied top answers earns ``1/t`` (the same as breaking the tie at random).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

EPS = 1e-12  # floor for a model's probability inside a logarithm
# Krichevsky-Trofimov smoothing of the leave-one-out crowd's distribution: add 1/2 per class,
# the estimator that is minimax for the log score, chosen on principle rather than on the data.
KT_SMOOTHING = 0.5


def _as_votes(votes: np.ndarray) -> np.ndarray:
    array = np.asarray(votes)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"votes must be (N, V) counts with V >= 2, got shape {array.shape}")
    if array.size == 0:
        raise ValueError("votes is empty: a baseline of no faces is undefined")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError("votes must be whole vote counts")
    if np.any(array < 0):
        raise ValueError(f"votes must be counts >= 0, got {array.min()}")
    return array.astype(np.int64)


def _as_probs(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != votes.shape[0] or array.shape[1] > votes.shape[1]:
        raise ValueError(
            f"probs must be (N, C) with N = {votes.shape[0]} faces and C <= {votes.shape[1]} "
            f"vote columns, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError("probs must be finite probabilities >= 0")
    if np.any(np.abs(array.sum(axis=1) - 1) > 1e-3):
        raise ValueError("probs has rows that do not sum to 1")
    return array


def pairwise_agreement(votes: np.ndarray) -> np.ndarray:
    """Annotator against annotator: the chance that two distinct annotators of a face agree,
    ``sum_c n_c (n_c - 1) / (n (n - 1))`` with ``n = sum_c n_c``; ``(N,)``, NaN where
    ``n < 2``."""
    votes = _as_votes(votes).astype(np.float64)
    n = votes.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, (votes * (votes - 1)).sum(axis=1) / (n * (n - 1)), np.nan)


@lru_cache(maxsize=256)
def _compositions(parts: int, total: int) -> np.ndarray:
    """Every way to write ``total`` as ``parts`` ordered counts >= 0: int ``(P, parts)``."""
    if parts == 1:
        return np.array([[total]], dtype=np.int64)
    rows = [
        np.concatenate([np.full((len(rest), 1), first), rest], axis=1)
        for first in range(total + 1)
        for rest in [_compositions(parts - 1, total - first)]
    ]
    return np.concatenate(rows)


@lru_cache(maxsize=16)
def _binomials(n: int) -> np.ndarray:
    """``C(a, b)`` for ``0 <= b <= a <= n`` as float64 ``(n + 1, n + 1)`` (0 where b > a)."""
    return np.array([[math.comb(a, b) for b in range(n + 1)] for a in range(n + 1)], float)


def _crowd_credit(counts: tuple[int, ...], k: int) -> float:
    """The chance that a held-out annotator's answer is the plurality of ``k`` others drawn
    without replacement, for one face's nonzero ``counts``.

    Holding one out and then drawing k others is drawing ``k + 1`` annotators without
    replacement (multivariate hypergeometric: ``P(d) = prod_c C(n_c, d_c) / C(n, k + 1)``)
    and holding out one of those, answer ``h`` with chance ``d_h / (k + 1)``; the crowd is then
    ``d - e_h``."""
    n_c = np.asarray(counts, dtype=np.int64)
    draws = _compositions(len(n_c), k + 1)
    draws = draws[(draws <= n_c).all(axis=1)]  # (P, m)
    comb = _binomials(int(n_c.sum()))
    chance = comb[n_c, draws].prod(axis=1) / comb[n_c.sum(), k + 1]  # (P,)
    credit = np.zeros(len(draws))
    for h in range(len(n_c)):
        crowd = draws.copy()
        crowd[:, h] -= 1
        top = crowd.max(axis=1, keepdims=True)
        wins = crowd[:, h] == top[:, 0]
        ties = (crowd == top).sum(axis=1)
        credit += np.where(draws[:, h] > 0, draws[:, h] / (k + 1) * wins / ties, 0.0)
    return float(chance @ credit)


def crowd_curve(votes: np.ndarray, max_k: int | None = None) -> np.ndarray:
    """The crowd of k, for k = 1 ... K: per face the chance that a held-out annotator's answer
    equals the plurality of k other annotators of that face drawn without replacement (ties
    split evenly), ``E_{h, D}[ [h in argmax D] / |argmax D| ]``; ``(N, K)`` with column ``k - 1``
    for k, NaN where the face has ``n < k + 1`` votes. ``K`` defaults to the largest ``n - 1``.

    Computed exactly, by enumerating the draws of each distinct vote row once (a face's answer
    is a function of its counts only). With k = 1 it is `pairwise_agreement`.
    """
    votes = _as_votes(votes)
    n = votes.sum(axis=1)
    top_k = int(n.max()) - 1 if max_k is None else int(max_k)
    if top_k < 1:
        raise ValueError(
            f"a crowd needs faces with 2 or more votes; the most any face has is {n.max()}"
        )
    curve = np.full((len(votes), top_k), np.nan)
    rows, inverse = np.unique(votes, axis=0, return_inverse=True)
    for index, row in enumerate(rows):
        nonzero = tuple(int(c) for c in row if c > 0)
        values = [
            _crowd_credit(nonzero, k) if k + 1 <= sum(nonzero) else np.nan
            for k in range(1, top_k + 1)
        ]
        curve[inverse.reshape(-1) == index] = values
    return curve


def plurality_credit(votes: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Leave-one-out plurality of the others, for one vote per face: ``answer`` ``(N,)`` is a
    column index whose count in ``votes`` includes that vote; the credit is
    ``[a in argmax(v - e_a)] / |argmax(v - e_a)|``; ``(N,)``, NaN where nobody else voted.
    Averaged over a face's votes it is ``crowd_curve``'s last column (k = n - 1)."""
    votes = _as_votes(votes)
    answer = np.asarray(answer)
    if answer.shape != (len(votes),) or not np.issubdtype(answer.dtype, np.integer):
        raise ValueError(f"answer must be ({len(votes)},) column indices, got {answer.shape}")
    if np.any((answer < 0) | (answer >= votes.shape[1])):
        raise ValueError(f"answer must index the {votes.shape[1]} vote columns")
    rows = np.arange(len(votes))
    if np.any(votes[rows, answer] < 1):
        raise ValueError("each answer must be among its face's votes (a count >= 1)")
    others = votes.copy()
    others[rows, answer] -= 1
    top = others.max(axis=1)
    credit = (others[rows, answer] == top) / (others == top[:, None]).sum(axis=1)
    return np.where(others.sum(axis=1) > 0, credit, np.nan)


def model_agreement(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Model against a held-out annotator: the share of a face's votes that name the model's
    top answer, ``n_{argmax p} / n``; ``(N,)``, NaN where the face has no vote."""
    votes = _as_votes(votes)
    probs = _as_probs(probs, votes)
    n = votes.sum(axis=1).astype(np.float64)
    named = votes[np.arange(len(votes)), probs.argmax(axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, named / n, np.nan)


def held_out_log_score(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """The log score a model gives a held-out annotator's emotion vote (a proper scoring rule;
    higher is better): ``sum_{c < C} n_c ln p_c / sum_{c < C} n_c`` (``p`` floored at 1e-12);
    ``(N,)``, NaN where no vote names one of the model's ``C`` answers."""
    votes = _as_votes(votes)
    probs = _as_probs(probs, votes)
    named = votes[:, : probs.shape[1]].astype(np.float64)
    n = named.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (named * np.log(np.maximum(probs, EPS))).sum(axis=1) / n, np.nan)


def crowd_log_score(votes: np.ndarray, classes: int, smoothing: float = KT_SMOOTHING) -> np.ndarray:
    """The log score of the leave-one-out crowd's own smoothed distribution over the first
    ``classes`` columns, for a held-out emotion vote: with ``m = sum_{c < classes} n_c``,
    ``sum_c n_c ln((n_c - 1 + a) / (m - 1 + classes a)) / m`` (``a`` = ``smoothing``); the
    baseline a model's `held_out_log_score` is read against. ``(N,)``, NaN where ``m = 0``."""
    votes = _as_votes(votes)
    if not 2 <= classes <= votes.shape[1]:
        raise ValueError(f"classes must be in [2, {votes.shape[1]}], got {classes}")
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0, got {smoothing}")
    named = votes[:, :classes].astype(np.float64)
    m = named.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (named - 1 + smoothing) / (m - 1 + classes * smoothing)
        terms = np.where(named > 0, named * np.log(np.where(named > 0, others, 1.0)), 0.0)
        return np.where(m[:, 0] > 0, terms.sum(axis=1) / m[:, 0], np.nan)


# what `worth_annotators` returns where the model is below the crowd of one / above every crowd
BELOW_ONE = 0.0
ABOVE_ALL = math.inf


def worth_annotators(curve: np.ndarray, agreement: np.ndarray | float) -> np.ndarray:
    """Worth k annotators: the k at which the crowd-of-k curve first reaches the model's
    agreement with a held-out annotator, linearly interpolated between whole k.

    ``curve`` is the mean agreement of the crowd of k = 1 ... K, ``(K,)`` (or ``(R, K)``, one
    curve per bootstrap resample, with ``agreement`` ``(R,)``). Returns a float in ``[1, K]``
    (an array ``(R,)`` for ``(R, K)``), `BELOW_ONE` (0) where the model agrees less often than
    one other annotator does, and `ABOVE_ALL` (inf) where it agrees more often than every crowd
    of the curve."""
    curve = np.asarray(curve, dtype=np.float64)
    single = curve.ndim == 1
    curves = np.atleast_2d(curve)
    targets = np.atleast_1d(np.asarray(agreement, dtype=np.float64))
    if curves.ndim != 2 or targets.shape != (len(curves),):
        raise ValueError(
            f"curve (K,) takes one agreement, (R, K) takes (R,); got {curve.shape} and "
            f"{np.shape(agreement)}"
        )
    reached = curves >= targets[:, None]  # (R, K)
    first = reached.argmax(axis=1)  # first k - 1 reaching the target, 0 if none
    worth = np.full(len(curves), ABOVE_ALL)
    rows = np.flatnonzero(reached.any(axis=1))
    below = rows[(first[rows] == 0) & (targets[rows] < curves[rows, 0])]
    worth[below] = BELOW_ONE
    exact = rows[(first[rows] == 0) & (targets[rows] >= curves[rows, 0])]
    worth[exact] = 1.0
    inner = rows[first[rows] > 0]
    low, high = curves[inner, first[inner] - 1], curves[inner, first[inner]]
    step = np.where(high > low, (targets[inner] - low) / np.where(high > low, high - low, 1), 1.0)
    worth[inner] = first[inner] + step  # k - 1 = first - 1 + 1, plus the fraction
    return worth[0] if single else worth


def worth_text(worth: float, max_k: int) -> str:
    """A `worth_annotators` value in words: "below one annotator", "above 9", "about 3.4"."""
    if worth == BELOW_ONE:
        return "below one annotator"
    if worth == ABOVE_ALL:
        return f"above {max_k}"
    return f"about {worth:.1f}"


def with_model_vote(votes: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The crowd with the model as one more rater: ``votes`` plus one vote for the model's top
    answer on every face; int ``(N, V)``."""
    votes = _as_votes(votes)
    probs = _as_probs(probs, votes)
    added = votes.copy()
    added[np.arange(len(votes)), probs.argmax(axis=1)] += 1
    return added


def fleiss_kappa(votes: np.ndarray) -> float:
    """Fleiss' kappa of the crowd (statsmodels' ``fleiss_kappa``): ``(P - P_e) / (1 - P_e)``
    with ``P`` the mean `pairwise_agreement` and ``P_e = sum_c p_c^2`` from the pooled answer
    shares; NaN where every vote names the same answer (no chance agreement to correct). It needs
    the same number of raters on every face: a ValueError says so otherwise (Krippendorff's
    alpha has no such need)."""
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_kappa

    votes = _as_votes(votes)
    raters = np.unique(votes.sum(axis=1))
    if len(raters) != 1 or raters[0] < 2:
        raise ValueError(
            "Fleiss' kappa needs the same number (>= 2) of raters on every face; these faces "
            f"have {raters.min()}-{raters.max()}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN: one answer only, P_e = 1
        return float(statsmodels_kappa(votes, method="fleiss"))


def krippendorff_alpha(votes: np.ndarray) -> float:
    """Krippendorff's alpha, nominal, of the crowd (the ``krippendorff`` package, from the
    counts ``(N, V)`` as its value counts): ``1 - D_o / D_e`` over pairable votes; faces with
    fewer than 2 votes are not pairable and drop out; NaN where every vote names the same
    answer."""
    import krippendorff

    votes = _as_votes(votes)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN: one answer only, D_e = 0
        return float(krippendorff.alpha(value_counts=votes, level_of_measurement="nominal"))
