"""Which face the Annotate page shows next: the queue strategies, as orders over a dataset.

Each strategy ranks the ``N`` faces, first to come first, from what is known of them: the
crowd's votes ``(N, 10)`` (the dataset's own and the other annotators' in the database) and
the models' MC samples ``{key: (S, N, C)}``:

- ``random``: a permutation drawn from ``seed``;
- ``vote entropy``: most ambiguous to people first, ``H(p_h)`` of the votes over the 8 emotions
  (`bnnfer.data.votes.vote_entropy`; faces without an emotion vote last);
- ``mutual information``: where the models are least sure, the mean over models of
  ``I = H(mean_s p_s) - mean_s H(p_s)`` (`bnnfer.evaluation.metrics.mutual_information`);
- ``models vs people (JSD)``: where models and people disagree most, the mean over models of
  ``JSD(p_h, mean_s p_s)`` (faces without an emotion vote last);
- ``fewest votes``: the faces with the fewest votes so far first (to build a crowd from
  nothing);
- ``file order``: as the dataset lists them.

Ties keep file order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..constants import NUM_CLASSES
from ..data.votes import vote_distribution, vote_entropy
from ..evaluation import metrics

STRATEGIES = (
    "random",
    "vote entropy",
    "mutual information",
    "models vs people (JSD)",
    "fewest votes",
    "file order",
)
NEEDS_VOTES = ("vote entropy", "models vs people (JSD)")
NEEDS_MODELS = ("mutual information", "models vs people (JSD)")


def available(has_votes: bool, has_models: bool) -> list[str]:
    """The strategies that apply where the faces have votes and models' samples or not."""
    return [
        name
        for name in STRATEGIES
        if (has_votes or name not in NEEDS_VOTES) and (has_models or name not in NEEDS_MODELS)
    ]


def _descending(score: np.ndarray) -> np.ndarray:
    """Indices by ``score`` highest first, NaN last, ties in file order."""
    key = np.where(np.isnan(score), -np.inf, score)
    return np.argsort(-key, kind="stable")


def _emotion_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p_h, defined)``: the vote distribution ``(N, 8)`` (uniform where undefined) and
    whether the face has an emotion vote ``(N,)``."""
    defined = votes[:, :NUM_CLASSES].sum(axis=1) > 0
    p = np.full((len(votes), NUM_CLASSES), 1.0 / NUM_CLASSES)
    if defined.any():
        p[defined] = vote_distribution(votes[defined])
    return p, defined


def order(
    strategy: str,
    faces: int,
    votes: np.ndarray | None = None,
    samples: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The ``faces`` indices in ``strategy``'s order, first to show first: int ``(N,)``.

    ``votes`` int ``(N, 10)`` and ``samples`` ``{key: (S, N, C)}`` as the strategy needs them
    (ValueError naming what is missing or misshapen)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if votes is not None and np.shape(votes)[0] != faces:
        raise ValueError(f"votes must be ({faces}, 10), got {np.shape(votes)}")
    samples = dict(samples or {})
    for key, array in samples.items():
        if np.ndim(array) != 3 or np.shape(array)[1] != faces:
            raise ValueError(f"samples[{key!r}] must be (S, {faces}, C), got {np.shape(array)}")
    if strategy in NEEDS_VOTES and votes is None:
        raise ValueError(f"strategy {strategy!r} needs the faces' votes")
    if strategy in NEEDS_MODELS and not samples:
        raise ValueError(f"strategy {strategy!r} needs the models' samples")
    if strategy == "random":
        return np.random.default_rng(seed).permutation(faces)
    if strategy == "file order":
        return np.arange(faces)
    if strategy == "fewest votes":
        counts = np.zeros(faces) if votes is None else np.asarray(votes).sum(axis=1)
        return np.argsort(counts, kind="stable")
    if strategy == "mutual information":
        score = np.mean([metrics.mutual_information(s) for s in samples.values()], axis=0)
        return _descending(score)
    votes = np.asarray(votes)
    p_h, defined = _emotion_distribution(votes)
    if strategy == "vote entropy":
        entropy = np.full(faces, np.nan)
        if defined.any():
            entropy[defined] = vote_entropy(votes[defined])
        return _descending(entropy)
    means = [s.astype(np.float64).mean(axis=0)[:, :NUM_CLASSES] for s in samples.values()]
    jsd = np.mean(
        [metrics.js_divergence(p_h, m / m.sum(axis=1, keepdims=True)) for m in means], axis=0
    )
    return _descending(np.where(defined, jsd, np.nan))


def next_face(ranked: np.ndarray, done: np.ndarray) -> int | None:
    """The first face of ``ranked`` not ``done`` (bool ``(N,)``); None when all are."""
    for index in ranked:
        if not done[index]:
            return int(index)
    return None
