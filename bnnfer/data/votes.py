"""Human statistics from raw votes ``(N, 10)`` int over ``VOTE_COLUMNS``: the renormalised
distribution over the 8 emotions, plurality, entropy, agreement, and FER+'s filtering rules.
"""

from __future__ import annotations

import numpy as np

from ..constants import NUM_CLASSES, NUM_VOTE_COLUMNS, VOTE_COLUMNS

SEVERAL_ANNOTATORS_NOTE = "needs several annotators per face"


def vote_distribution(votes: np.ndarray) -> np.ndarray:
    """``p_h[i, c] = votes[i, c] / sum_{k<8} votes[i, k]`` over the 8 emotions: float64 ``(N, 8)``.

    Rows with no emotion vote at all have no distribution; they are refused.
    """
    emotion_votes = np.asarray(votes)[:, :NUM_CLASSES].astype(np.float64)
    totals = emotion_votes.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        bad = int(np.flatnonzero(totals[:, 0] <= 0)[0])
        raise ValueError(f"votes row {bad} has no emotion vote; drop it before renormalising")
    return emotion_votes / totals


def plurality_label(votes: np.ndarray) -> np.ndarray:
    """int64 ``(N,)``: the emotion with most votes, ties broken towards the lower index."""
    return np.argmax(np.asarray(votes)[:, :NUM_CLASSES], axis=1).astype(np.int64)


def vote_entropy(votes: np.ndarray) -> np.ndarray:
    """``H(p_h) = -sum_c p_h[c] ln p_h[c]`` (nats, ``0 ln 0 = 0``): float64 ``(N,)``."""
    p = vote_distribution(votes)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1)


def human_statistics(votes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face human statistics from votes ``(N, 10)``.

    Returns a dict of arrays:
        ``distribution`` ``(N, 8)`` renormalised votes; ``entropy`` ``(N,)`` vote entropy in
        nats; ``agreement`` ``(N,)`` share of the plurality class, ``max_c p_h[c]``;
        ``valid_votes`` ``(N,)`` number of emotion votes; ``plurality`` ``(N,)`` label;
        ``unanimous`` ``(N,)`` bool, every emotion vote on one class.
    """
    dist = vote_distribution(votes)
    agreement = dist.max(axis=1)
    return {
        "distribution": dist,
        "entropy": vote_entropy(votes),
        "agreement": agreement,
        "valid_votes": np.asarray(votes)[:, :NUM_CLASSES].sum(axis=1).astype(np.int64),
        "plurality": plurality_label(votes),
        "unanimous": agreement >= 1.0,
    }


def single_annotator(votes: np.ndarray) -> bool:
    """Whether every face of votes ``(N, 10)`` holds exactly one vote: one annotator per face,
    whose vote distribution is a one-hot label. The metrics of agreement with people (vote
    entropy, human ECE, divergence from the votes) then say nothing the label metrics do not,
    and are shown as `SEVERAL_ANNOTATORS_NOTE` instead."""
    totals = np.asarray(votes).sum(axis=1)
    return bool(len(totals) > 0 and np.all(totals == 1))


def barsoum_majority(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The FER+ papers' evaluation subset (Barsoum et al. 2016, microsoft/FERPlus
    ``src/ferplus.py``, majority mode): ``(keep, labels)``, bool and int64 ``(N,)``.

    Per face, over all 10 vote columns: a count of 1 is set to 0 (a single vote is an
    outlier); the face is kept when one column holds more than half of the remaining votes,
    ``max_k v_k > 0.5 sum_k v_k``, and that column is an emotion (not ``unknown`` or ``NF``).
    ``labels`` is that column (on kept faces it equals `plurality_label`).
    """
    cleaned = np.asarray(votes, dtype=np.int64).copy()
    if cleaned.ndim != 2 or cleaned.shape[1] != NUM_VOTE_COLUMNS:
        raise ValueError(f"votes must be (N, {NUM_VOTE_COLUMNS}), got shape {cleaned.shape}")
    cleaned[cleaned <= 1] = 0
    top = cleaned.argmax(axis=1)
    keep = (2 * cleaned.max(axis=1) > cleaned.sum(axis=1)) & (top < NUM_CLASSES)
    return keep, top.astype(np.int64)


def filter_emotion_faces(votes: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Which faces to keep: bool ``(N,)`` and the dropped count per reason.

    A face is dropped when its plurality over all 10 columns is ``unknown`` or ``NF``, or when
    none of its votes is an emotion.
    """
    votes = np.asarray(votes)
    top = np.argmax(votes, axis=1)
    no_emotion = votes[:, :NUM_CLASSES].sum(axis=1) == 0
    is_unknown = (top == VOTE_COLUMNS.index("unknown")) & ~no_emotion
    is_nf = (top == VOTE_COLUMNS.index("NF")) & ~no_emotion
    keep = ~(is_unknown | is_nf | no_emotion)
    dropped = {
        "unknown": int(is_unknown.sum()),
        "NF": int(is_nf.sum()),
        "no_emotion_votes": int(no_emotion.sum()),
    }
    return keep, dropped
