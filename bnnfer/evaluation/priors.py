"""The class prior as a choice: each row's training prior, readings re-weighted to another
population's prior, and that prior estimated from unlabeled faces.

A network trained with a proper loss answers ``p_0(c | x)`` for the population it learned from,
whose class frequencies ``pi_0`` it learned along with the faces. Under label shift (each class's
faces look as they did, ``p(x | c)`` unchanged, but the classes come at frequencies ``pi_t``),
Bayes' rule gives the reading for the new population (Saerens et al. 2002):

    p_t(c | x) = p_0(c | x) w(c) / sum_k p_0(k | x) w(k),    w(c) = pi_t(c) / pi_0(c).

`reweight` applies it to every MC sample of ``(S, B, C)`` on its own, so the samples' spread
follows.

A population's prior is the share of its faces whose plurality emotion is each class (what "a
set with no neutral faces" means). A row trained on the plurality label reads it as it is, and
its ``pi_0`` is FER+ Train's plurality frequencies. A soft-trained row predicts the vote
distribution: its terms are the population's mean vote distribution, ``P^T pi`` with ``P[y]``
the mean vote distribution of FER+ Train's faces of plurality ``y`` (`vote_profiles`), and its
``pi_0`` is Train's mean vote distribution, a flatter one (contempt 1.8% of the votes, 0.6% of
the plurality labels). `RowPrior` holds both; dividing a soft-trained row by the plurality
frequencies over-corrects its rare classes.

Estimating a population's prior from unlabeled faces needs labelled faces of the training
population to fit on (`fit_source`, on FER+ Valid):

* EM (`em_prior`; Saerens et al. 2002) alternates the reading above with
  ``pi_t = mean_i p_t(. | x_i)`` up to the fixed point, the maximum-likelihood prior. It needs
  probabilities calibrated for the plurality label (Alexandari et al. 2020), so a row's mean
  distributions first go through bias-corrected temperature scaling (`fit_bcts`,
  ``softmax(log p / T + b)``) fitted on the labelled faces, whose plurality frequencies are then
  the calibrated row's ``pi_0``. A soft-trained row, under-confident for the plurality label,
  needs it most.
* BBSE (`bbse_prior`; Lipton et al. 2018, with the soft predictions): the labelled faces' joint
  confusion ``C[i, j] = mean_k p_i(x_k) [y_k = j]`` and the unlabeled faces' mean distribution
  ``mu`` satisfy ``mu = C w`` under label shift; ``pi_t = w * pi_0`` with ``w = C^-1 mu``
  (negative weights set to 0). It needs no calibration but an invertible, well-conditioned C.

`estimate_prior` runs either with a 95% percentile-bootstrap interval over the faces and says
why an estimate is unreliable. The choices (`parse_prior`): ``fer+`` (as trained, the
default), ``uniform``, ``adapted`` (EM on the faces being read) or 8 explicit frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import EMOTIONS, NUM_CLASSES
from ..data.votes import plurality_label, vote_distribution
from . import metrics
from .calibration import scale_probabilities

PRIOR_WORDS: tuple[str, ...] = ("fer+", "uniform", "adapted")
ESTIMATORS: tuple[str, ...] = ("em", "bbse")
# explicit frequencies may be typed rounded (0.333 three times): they must sum to 1 within this
SUM_TOLERANCE = 0.01
# Below this many faces an estimated prior is flagged unreliable: chosen on FER+ Valid, where
# from 300 faces on EM's adapted reading was more accurate than the FER+ prior's in at least 70%
# of the simulated sets of every row and shift of total variation >= 0.3 (at 100 faces, in as
# few as half), and its intervals held the truth 85% of the time (79% at 100 faces)
# (benchmarks/results/priors_shift.json, docs/results.md)
MIN_FACES = 300
# BBSE is flagged unreliable when its confusion matrix's condition number (`SourceFit.condition`)
# exceeds this: chosen on FER+ Valid, above every bundled row's on either half of Valid (50-151),
# where BBSE's error was measured (benchmarks/results/priors_shift.json)
MAX_CONDITION = 200.0
N_BOOT = 200  # bootstrap resamples of an estimate's interval
# EM's estimate is the posterior mode under a Dirichlet prior worth this many faces at the
# labelled faces' frequencies: chosen on FER+ Valid among 0, 5, 10, 20 and 40, the lowest mean
# NLL of the adapted readings over the simulated shifts at 30 to 1,000 faces (without it, a
# rare class a set barely shows is ruled out, and its faces' NLL explodes;
# benchmarks/results/priors_shift.json)
EM_PSEUDO_FACES = 10.0
EM_TOLERANCE = 1e-6  # EM stops when no class's prior moves more than this in an iteration
EM_ITERATIONS = 2000
_EPS = metrics.EPS


# --------------------------------------------------------------------------------------
# priors and the choice among them


def check_prior(
    name: str, prior: Any, classes: int = NUM_CLASSES, positive: bool = False
) -> np.ndarray:
    """A prior ``(C,)`` validated and renormalised: ``classes`` finite values, none negative
    (none zero if ``positive``: a prior that is divided by), summing to 1 within
    `SUM_TOLERANCE`. Anything else is a ValueError naming ``name``."""
    try:
        array = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {classes} numbers, got {prior!r}") from None
    if array.shape != (classes,):
        which = f" (one per emotion: {', '.join(EMOTIONS)})" if classes == NUM_CLASSES else ""
        got = array.size if array.ndim == 1 else f"shape {array.shape}"
        raise ValueError(f"{name} must hold {classes} frequencies{which}, got {got}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    if np.any(array < 0):
        bad = EMOTIONS[int(np.argmin(array))] if classes == NUM_CLASSES else int(np.argmin(array))
        raise ValueError(f"{name} has a negative frequency ({bad}: {array.min():g})")
    if positive and np.any(array == 0):
        raise ValueError(f"{name} must give every class a frequency above 0 (it is divided by)")
    if abs(array.sum() - 1.0) > SUM_TOLERANCE + 1e-12:  # 0.99 typed is 0.99000...01 summed
        raise ValueError(f"{name} must sum to 1 (within {SUM_TOLERANCE}), got {array.sum():g}")
    return array / array.sum()


@dataclass(frozen=True)
class PriorChoice:
    """The class prior of the population being read, as chosen: ``kind`` is ``"fer+"`` (the
    row's training prior: readings as trained), ``"uniform"``, ``"adapted"`` (estimated from
    the faces being read, `estimate_prior`) or ``"explicit"`` with ``frequencies`` (C values
    summing to 1, in `EMOTIONS` order)."""

    kind: str
    frequencies: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in (*PRIOR_WORDS, "explicit"):
            raise ValueError(f"prior kind must be one of {(*PRIOR_WORDS, 'explicit')}")
        if (self.kind == "explicit") != (self.frequencies is not None):
            raise ValueError("frequencies are given with kind 'explicit' and only then")

    def __str__(self) -> str:
        """The text `parse_prior` reads back into this choice."""
        if self.frequencies is None:
            return self.kind
        return ",".join(f"{v:g}" for v in self.frequencies)


def parse_prior(text: str) -> PriorChoice:
    """A prior choice from its text: ``fer+``, ``uniform``, ``adapted`` (any case), or 8
    frequencies separated by commas in `EMOTIONS` order (``0.2,0.3,0.1,0.1,0.1,0.1,0.05,0.05``),
    none negative, summing to 1 within `SUM_TOLERANCE` (then renormalised). Anything else is
    a ValueError that says what is wrong and what is accepted."""
    word = str(text).strip().lower()
    if word in PRIOR_WORDS:
        return PriorChoice(word)
    if "," not in word:
        raise ValueError(
            f"unknown prior {text!r}: use one of {', '.join(PRIOR_WORDS)}, or "
            f"{NUM_CLASSES} frequencies separated by commas ({', '.join(EMOTIONS)})"
        )
    try:
        values = [float(part) for part in word.split(",")]
    except ValueError:
        raise ValueError(f"prior {text!r}: every frequency must be a number") from None
    prior = check_prior(f"prior {text!r}", values)
    return PriorChoice("explicit", tuple(float(v) for v in prior))


def plurality_frequencies(votes: np.ndarray) -> np.ndarray:
    """``(C,)``: the share of the faces of raw votes ``(N, 10)`` whose plurality emotion is
    each class, ``mean_i [y_i = c]``."""
    return np.bincount(plurality_label(votes), minlength=NUM_CLASSES) / len(votes)


def vote_profiles(votes: np.ndarray) -> np.ndarray:
    """``(C, C)``: row ``y`` the mean vote distribution of the faces (raw votes ``(N, 10)``)
    whose plurality emotion is ``y``, ``P[y, c] = mean_{i: y_i = y} v_i[c]`` (one-hot where no
    face has that plurality). ``P^T pi`` is then the mean vote distribution of a population of
    plurality frequencies ``pi`` whose faces of each emotion are voted as these are."""
    labels, distribution = plurality_label(votes), vote_distribution(votes)
    profiles = np.eye(NUM_CLASSES)
    for label in np.unique(labels):
        profiles[label] = distribution[labels == label].mean(axis=0)
    return profiles


TARGET_TERMS = {"majority": "plurality", "soft": "votes", "pld": "votes"}


@dataclass(frozen=True, eq=False)
class RowPrior:
    """How a row trained with ``target`` (``"majority"``, ``"soft"``, ``"pld"``) reads a
    population's prior: ``plurality`` ``(C,)`` and ``profiles`` ``(C, C)`` are FER+ Train's
    plurality frequencies and `vote_profiles`. A plurality-trained row takes a prior as it is;
    one trained on the votes (``soft``, and ``pld``, whose drawn labels average to them) as the
    mean vote distribution ``profiles^T prior`` (`in_row_terms`)."""

    target: str
    plurality: np.ndarray
    profiles: np.ndarray

    def __post_init__(self) -> None:
        if self.target not in TARGET_TERMS:
            raise ValueError(f"target must be one of {tuple(TARGET_TERMS)}, got {self.target!r}")
        check_prior("plurality", self.plurality, positive=True)
        profiles = np.asarray(self.profiles, dtype=np.float64)
        if profiles.shape != (NUM_CLASSES, NUM_CLASSES):
            raise ValueError(
                f"profiles must be ({NUM_CLASSES}, {NUM_CLASSES}), got {profiles.shape}"
            )
        for row in profiles:
            check_prior("every row of profiles", row)

    def in_row_terms(self, prior: Any) -> np.ndarray:
        """A population's plurality frequencies ``(C,)`` in this row's terms ``(C,)``."""
        prior = check_prior("prior", prior)
        if TARGET_TERMS[self.target] == "plurality":
            return prior
        return np.asarray(self.profiles, dtype=np.float64).T @ prior

    @property
    def training(self) -> np.ndarray:
        """``(C,)`` the row's training prior: Train's plurality frequencies in its terms (for
        a soft-trained row, Train's mean vote distribution)."""
        return self.in_row_terms(self.plurality)


def row_prior(votes: np.ndarray, target: str) -> RowPrior:
    """The `RowPrior` of a row trained with ``target`` on faces of raw votes ``(N, 10)``."""
    return RowPrior(target, plurality_frequencies(votes), vote_profiles(votes))


def training_priors_document(
    votes: np.ndarray, targets: Mapping[str, str], source: str
) -> dict[str, Any]:
    """What a bundle records of its rows' training priors (``priors.json``,
    `bnnfer.evaluation.adapt.read_row_priors`), from the training faces' raw votes ``(N, 10)`` and
    each row's training target ``{key: target}``: the faces' `plurality_frequencies` and
    `vote_profiles`, and per row its target and `RowPrior.training`. ``source`` names the
    faces."""
    plurality, profiles = plurality_frequencies(votes), vote_profiles(votes)
    return {
        "source": source,
        "faces": len(votes),
        "emotions": list(EMOTIONS),
        "plurality": plurality.tolist(),
        "vote_profiles": profiles.tolist(),
        "rows": {
            key: {
                "target": target,
                "training_prior": RowPrior(target, plurality, profiles).training.tolist(),
            }
            for key, target in targets.items()
        },
    }


def reweight(samples: np.ndarray, target: Any, source: Any) -> np.ndarray:
    """Probabilities ``(..., C)`` (samples ``(S, B, C)`` or distributions ``(B, C)``) read
    under the prior ``target`` instead of ``source``, each row on its own:
    ``p(c) w(c) / sum_k p(k) w(k)`` with ``w = target / source``. A row whose mass lies on
    classes ``target`` rules out reads as ``w / sum w``. float64, same shape."""
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] < 2:
        raise ValueError(f"samples must be (..., C) with C >= 2, got shape {array.shape}")
    classes = array.shape[-1]
    weights = check_prior("target", target, classes) / check_prior(
        "source", source, classes, positive=True
    )
    weighted = array * weights
    sums = weighted.sum(axis=-1, keepdims=True)
    fallback = np.broadcast_to(weights / weights.sum(), weighted.shape)
    return np.where(sums > 0, weighted / np.where(sums > 0, sums, 1.0), fallback)


# --------------------------------------------------------------------------------------
# bias-corrected temperature scaling


@dataclass(frozen=True)
class Calibration:
    """Bias-corrected temperature scaling (Alexandari et al. 2020):
    ``softmax(log p / temperature + bias)``, ``bias`` ``(C,)`` with ``bias[0] = 0``."""

    temperature: float
    bias: tuple[float, ...]

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Distributions ``(B, C)`` calibrated: `calibration.scale_probabilities` by the
        temperature, then re-weighted by ``exp(bias)`` (the same softmax)."""
        scaled = scale_probabilities(probs, self.temperature)
        weights = np.exp(np.asarray(self.bias) - max(self.bias))
        weighted = scaled * weights
        return weighted / weighted.sum(axis=1, keepdims=True)


def _bcts_loss(logits: np.ndarray, targets: np.ndarray, theta: np.ndarray) -> float:
    u = theta[0] * logits
    u[:, 1:] += theta[1:]
    u -= u.max(axis=1, keepdims=True)
    log_q = u - np.log(np.exp(u).sum(axis=1, keepdims=True))
    return float(-(targets * log_q).sum(axis=1).mean())


def fit_bcts(probs: np.ndarray, targets: np.ndarray, iterations: int = 100) -> Calibration:
    """The `Calibration` minimising the cross-entropy of ``softmax(a log p + b)`` against
    ``targets`` ``(N, C)`` (one-hot labels or vote distributions) for distributions ``probs``
    ``(N, C)``: ``mean_i -sum_c t_ic log q_ic``, convex in ``(a, b)`` (``T = 1/a``). Newton's
    method with a backtracking line search; ``b_0 = 0`` fixes softmax's free shift."""
    probs = metrics.as_distribution("probs", probs, 2)
    targets = metrics.as_distribution("targets", targets, 2)
    if targets.shape != probs.shape:
        raise ValueError(f"targets {targets.shape} must match probs {probs.shape}")
    n, classes = probs.shape
    logits = np.log(np.maximum(probs, _EPS))
    theta = np.zeros(classes)
    theta[0] = 1.0
    loss = _bcts_loss(logits, targets, theta)
    for _ in range(iterations):
        u = theta[0] * logits
        u[:, 1:] += theta[1:]
        q = np.exp(u - u.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        residual = q - targets
        gradient = np.concatenate([[(residual * logits).sum(axis=1).mean()], residual.mean(0)[1:]])
        if np.max(np.abs(gradient)) < 1e-10:
            break
        qz = (q * logits).sum(axis=1)
        hessian = np.empty((classes, classes))
        hessian[0, 0] = np.mean((q * logits**2).sum(axis=1) - qz**2)
        hessian[0, 1:] = hessian[1:, 0] = (q * (logits - qz[:, None])).mean(axis=0)[1:]
        hessian[1:, 1:] = (np.diag(q.mean(axis=0)) - q.T @ q / n)[1:, 1:]
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        decrease = float(gradient @ step)  # > 0: the Hessian is positive semi-definite
        size = 1.0
        while size > 1e-10:
            candidate = theta - size * step
            new_loss = _bcts_loss(logits, targets, candidate)
            if new_loss <= loss - 1e-4 * size * decrease:
                break
            size /= 2
        else:
            break  # no decrease along Newton's direction: at the optimum within rounding
        theta, loss = candidate, new_loss
    if not theta[0] > 0:
        raise ValueError("probs carry no information on targets: the fitted temperature is <= 0")
    return Calibration(float(1.0 / theta[0]), (0.0, *(float(b) for b in theta[1:])))


# --------------------------------------------------------------------------------------
# what the estimators learn from labelled faces of the training population


@dataclass(frozen=True, eq=False)
class SourceFit:
    """What one row's labelled faces of its training population (FER+ Valid) give the
    estimators: the row's `Calibration` for the plurality label (EM), the faces' plurality
    frequencies ``prior`` ``(C,)``, the soft joint confusion ``confusion`` ``(C, C)``,
    ``C[i, j] = mean_k p_i(x_k) [y_k = j]`` (BBSE), and how many faces."""

    calibration: Calibration
    prior: np.ndarray
    confusion: np.ndarray
    faces: int

    @property
    def condition(self) -> float:
        """The 2-norm condition number of the confusion given the label,
        ``C[i, j] / sum_i C[i, j]`` (free of the classes' frequencies, which are known); inf
        when it is singular or a class has no labelled face."""
        totals = self.confusion.sum(axis=0)
        if np.any(totals <= 0):
            return float("inf")
        given = self.confusion / totals
        if np.linalg.matrix_rank(given) < len(given):
            return float("inf")
        return float(np.linalg.cond(given))


def fit_source(probs: np.ndarray, labels: np.ndarray) -> SourceFit:
    """`SourceFit` of a row's mean distributions ``(N, C)`` on labelled faces of plurality
    ``labels`` ``(N,)``."""
    probs = metrics.as_distribution("probs", probs, 2)
    labels = metrics.as_labels("labels", labels, *probs.shape)
    onehot = np.eye(probs.shape[1])[labels]
    return SourceFit(
        calibration=fit_bcts(probs, onehot),
        prior=onehot.mean(axis=0),
        confusion=probs.T @ onehot / len(probs),
        faces=len(probs),
    )


# --------------------------------------------------------------------------------------
# the estimators


def _em(
    calibrated: np.ndarray,
    source: np.ndarray,
    counts: np.ndarray,
    pseudo_faces: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """EM for every resample at once: multiplicities ``counts`` ``(R, N)`` of the faces of
    ``calibrated`` ``(N, C)``, from ``start`` ``(C,)`` (default ``source``: the objective is
    concave in the prior, so any start reaches its maximum); ``(R, C)`` priors and ``(R,)``
    whether each converged. The maximum is the posterior mode under a Dirichlet prior of
    ``pseudo_faces`` faces at ``source`` (`em_prior`). Accelerated by SQUAREM (Varadhan &
    Roland 2008): two EM steps ``r = F(p) - p``, ``v = F(F(p)) - 2 F(p) + p`` extrapolated to
    ``p - 2 a r + a^2 v`` (``a = -|r|/|v|``, at most -1), then one EM step from there, kept
    where it stays inside the simplex and raises the objective above the second plain step's."""
    ratio = calibrated / source  # (N, C): the likelihood of a prior p is sum_n log(ratio_n . p)
    pseudo = pseudo_faces * source

    def step(prior: np.ndarray, weights: np.ndarray) -> np.ndarray:
        # sum_n q_n(c) with q_n(c) = ratio_nc prior_c / sum_k ratio_nk prior_k, as two products
        evidence = np.maximum(prior @ ratio.T, 1e-300)  # (R, N)
        counted = prior * ((weights / evidence) @ ratio) + pseudo
        return counted / (weights.sum(axis=1, keepdims=True) + pseudo_faces)

    def objective(prior: np.ndarray, weights: np.ndarray) -> np.ndarray:
        likelihood = (weights * np.log(np.maximum(prior @ ratio.T, 1e-300))).sum(axis=1)
        return likelihood + (pseudo * np.log(np.maximum(prior, 1e-300))).sum(axis=1)

    prior = np.tile(source if start is None else start, (len(counts), 1))
    converged = np.zeros(len(counts), bool)
    for _ in range(EM_ITERATIONS // 3):
        todo = np.flatnonzero(~converged)
        if len(todo) == 0:
            break
        weights, p0 = counts[todo], prior[todo]
        p1 = step(p0, weights)
        p2 = step(p1, weights)
        r, v = p1 - p0, p2 - 2 * p1 + p0
        alpha = -np.linalg.norm(r, axis=1) / np.maximum(np.linalg.norm(v, axis=1), 1e-300)
        alpha = np.minimum(alpha, -1.0)[:, None]
        jump = p0 - 2 * alpha * r + alpha**2 * v
        inside = np.all(jump > 0, axis=1)  # a class at 0 would stay there: EM cannot leave it
        jump = step(np.where(inside[:, None], jump, p2), weights)
        better = inside & (objective(jump, weights) > objective(p2, weights))
        prior[todo] = np.where(better[:, None], jump, p2)
        converged[todo] = np.max(np.abs(p2 - p1), axis=1) < EM_TOLERANCE
    return prior, converged


def em_prior(
    calibrated: np.ndarray, source: Any, pseudo_faces: float = EM_PSEUDO_FACES
) -> tuple[np.ndarray, bool]:
    """Saerens et al.'s EM: the prior ``(C,)`` of the faces whose calibrated distributions
    ``(N, C)`` are given, for a model whose prior is ``source``, that maximises
    ``sum_i log sum_c p_ic pi_c / source_c + pseudo_faces sum_c source_c log pi_c``: the
    likelihood's maximum (``pseudo_faces=0``) or the posterior mode under a Dirichlet prior of
    ``pseudo_faces`` faces at ``source``, which keeps a class few faces show from being ruled
    out. From ``pi = source``, the step ``pi = (sum_i reweight(p_i, pi, source) +
    pseudo_faces source) / (N + pseudo_faces)`` (SQUAREM accelerated) until a plain step
    moves no class more than `EM_TOLERANCE` (within `EM_ITERATIONS` steps); returns the prior
    and whether it converged."""
    calibrated = metrics.as_distribution("calibrated", calibrated, 2)
    source = check_prior("source", source, calibrated.shape[1], positive=True)
    if not pseudo_faces >= 0:
        raise ValueError(f"pseudo_faces must be >= 0, got {pseudo_faces}")
    prior, converged = _em(calibrated, source, np.ones((1, len(calibrated))), pseudo_faces)
    return prior[0], bool(converged[0])


def _bbse(shares: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """BBSE for rows of mean distributions ``(R, C)``: priors ``(R, C)``, NaN rows where every
    weight comes out negative."""
    weights = np.linalg.lstsq(confusion, shares.T, rcond=None)[0].T  # (R, C)
    prior = np.maximum(weights, 0.0) * confusion.sum(axis=0)
    sums = prior.sum(axis=1, keepdims=True)
    return np.where(sums > 0, prior / np.where(sums > 0, sums, 1.0), np.nan)


def bbse_prior(probs: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Lipton et al.'s black-box shift estimate of the prior ``(C,)`` of the faces whose
    distributions ``probs`` ``(N, C)`` are given, from the joint confusion ``(C, C)``,
    ``C[i, j] = P(prediction i, label j)`` on labelled faces (`SourceFit.confusion`, soft):
    ``mu = mean_k p(x_k)``, ``w = C^-1 mu`` (least squares where C is singular), negative
    weights set to 0, ``pi = w * C.sum(0)`` renormalised (NaN where every weight is 0)."""
    probs = metrics.as_distribution("probs", probs, 2)
    confusion = np.asarray(confusion, dtype=np.float64)
    classes = probs.shape[1]
    if confusion.shape != (classes, classes) or not np.all(np.isfinite(confusion)):
        raise ValueError(f"confusion must be finite ({classes}, {classes}), got {confusion.shape}")
    return _bbse(probs.mean(axis=0)[None], confusion)[0]


@dataclass(frozen=True, eq=False)
class PriorEstimate:
    """A prior estimated from ``faces`` unlabeled faces by ``method`` (``"em"``, ``"bbse"``):
    ``prior``, ``low`` and ``high`` ``(C,)`` (95% percentile bootstrap over the faces), and the
    reasons it is unreliable (``warnings``; none when it is not)."""

    method: str
    prior: np.ndarray
    low: np.ndarray
    high: np.ndarray
    faces: int
    warnings: tuple[str, ...] = ()

    @property
    def reliable(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: per emotion the estimate and its interval (4 decimals; None where
        undefined), the method, the number of faces and the warnings."""

        names = EMOTIONS if len(self.prior) == NUM_CLASSES else map(str, range(len(self.prior)))
        names = list(names)

        def named(values: np.ndarray) -> dict[str, float | None]:
            rounded = [round(float(v), 4) if np.isfinite(v) else None for v in values]
            return dict(zip(names, rounded, strict=True))

        return {
            "method": self.method,
            "faces": self.faces,
            "prior": named(self.prior),
            "low": named(self.low),
            "high": named(self.high),
            "reliable": self.reliable,
            "warnings": list(self.warnings),
        }


def estimate_prior(
    probs: np.ndarray,
    source: SourceFit,
    method: str = "em",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> PriorEstimate:
    """The prior of the faces whose mean distributions ``probs`` ``(N, C)`` a row gave, by EM
    on the distributions calibrated by ``source.calibration`` (from ``source.prior``) or by
    BBSE on ``source.confusion``; its 95% interval from ``n_boot`` resamples of the faces
    (`metrics.bootstrap_counts`). Warnings: fewer than `MIN_FACES` faces; EM not converged;
    BBSE's confusion singular or its condition number above `MAX_CONDITION`, or every weight
    negative."""
    if method not in ESTIMATORS:
        raise ValueError(f"method must be one of {ESTIMATORS}, got {method!r}")
    probs = metrics.as_distribution("probs", probs, 2)
    n = len(probs)
    warnings = []
    if n < MIN_FACES:
        warnings.append(
            f"only {n} faces: below {MIN_FACES}, an estimated prior did not improve the "
            "readings reliably on FER+ Valid"
        )
    everyone = np.ones((1, n))
    if method == "em":
        calibrated = source.calibration.apply(probs)

        def estimate(counts: np.ndarray, start: np.ndarray | None = None) -> tuple:
            return _em(calibrated, source.prior, counts, EM_PSEUDO_FACES, start)

    else:
        condition = source.condition
        if not np.isfinite(condition):
            warnings.append(
                "the confusion matrix on Valid is singular: BBSE cannot separate classes"
            )
        elif condition > MAX_CONDITION:
            warnings.append(
                f"the confusion matrix on Valid is ill-conditioned (condition number "
                f"{condition:.0f} > {MAX_CONDITION:g})"
            )

        def estimate(counts: np.ndarray, start: np.ndarray | None = None) -> tuple:
            shares = counts @ probs / counts.sum(axis=1, keepdims=True)
            prior = _bbse(shares, source.confusion)
            return prior, np.all(np.isfinite(prior), axis=1)

    point, ok = estimate(everyone)
    if not ok[0]:
        warnings.append(
            "EM did not converge" if method == "em" else "every BBSE weight came out negative"
        )
    resampled = np.concatenate(
        [estimate(counts, point[0])[0] for counts in metrics.bootstrap_counts(n, n_boot, seed)]
    )
    low, high = np.nanquantile(resampled, [0.025, 0.975], axis=0)
    return PriorEstimate(method, point[0], low, high, n, tuple(warnings))


# --------------------------------------------------------------------------------------
# readings under a choice


def population_prior(
    choice: PriorChoice, estimate: PriorEstimate | None = None
) -> np.ndarray | None:
    """The population prior ``(C,)`` (plurality frequencies) ``choice`` names: ``1/C`` each for
    ``uniform``, the frequencies given, ``estimate.prior`` for ``adapted`` (which needs an
    estimate); None for ``fer+``, which reads every row as trained."""
    if choice.kind == "fer+":
        return None
    if choice.kind == "uniform":
        return np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
    if choice.kind == "explicit":
        return check_prior("frequencies", choice.frequencies)
    if estimate is None:
        raise ValueError("the adapted prior needs an estimate of the faces' prior")
    if not np.all(np.isfinite(estimate.prior)):
        raise ValueError(f"the {estimate.method} estimate is undefined: {estimate.warnings}")
    return check_prior("estimate", estimate.prior)


def read_with_prior(
    samples: np.ndarray,
    choice: PriorChoice,
    row: RowPrior,
    source: SourceFit | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[np.ndarray, PriorEstimate | None]:
    """A row's samples ``(S, B, C)`` of B faces read under ``choice``, each sample re-weighted
    from the row's training prior to the chosen prior in its terms (`RowPrior`, `reweight`),
    and the estimate made for ``adapted`` (EM over these B faces' mean distributions with the
    row's ``source`` fit; None for the other choices). Under ``fer+`` the samples come back as
    they are (float64)."""
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim != 3:
        raise ValueError(f"samples must be (S, B, C), got shape {array.shape}")
    estimate = None
    if choice.kind == "adapted":
        if source is None:
            raise ValueError("the adapted prior needs the row's fit on FER+ Valid (source)")
        mean = array.mean(axis=0)
        estimate = estimate_prior(
            mean / mean.sum(axis=1, keepdims=True), source, "em", n_boot, seed
        )
    prior = population_prior(choice, estimate)
    if prior is None:
        return array, None
    return reweight(array, row.in_row_terms(prior), row.training), estimate
