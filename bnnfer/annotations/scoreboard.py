"""Where one annotator stands after voting: against the crowd, and beside each model on the same
faces, from the human baselines (`bnnfer.evaluation.humans`, `bnnfer.evaluation.baselines`).

Inputs, on the ``N`` faces the annotator voted: ``others`` int ``(N, 10)``, the crowd's votes
without the annotator's (the dataset's own and other annotators' in the database); ``mine``
int ``(N,)``, the annotator's answer per face (a column of ``VOTE_COLUMNS``); ``probs``
``{key: (N, C)}``, each model's mean predictive distribution.

- agreement with the crowd's plurality: ``[a in argmax o] / |argmax o|`` per face
  (`bnnfer.evaluation.humans.plurality_credit` with the annotator's vote added and held out);
- agreement with a held-out annotator: ``o_a / sum o``, the chance that one of the crowd named
  the same answer (`bnnfer.evaluation.humans.model_agreement` with the answer as a one-hot row), and
  for each model its top answer likewise;
- worth k annotators: where that agreement meets the crowd-of-k curve of these faces
  (`bnnfer.evaluation.humans.worth_annotators`), for the annotator and each model;
- the confusion matrix ``(10, 10)``: row the crowd's plurality (the first of tied answers),
  column the annotator's answer; and the faces where the annotator stood alone
  (`bnnfer.evaluation.annotators.lone_dissent`).

Intervals are 95% percentile bootstraps over faces (`bnnfer.evaluation.baselines.place_row`); they
are worth reading from `MIN_FACES_FOR_INTERVALS` faces on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..constants import NUM_CLASSES, NUM_VOTE_COLUMNS
from ..evaluation import baselines, humans, metrics
from ..evaluation.annotators import lone_dissent

MIN_FACES_FOR_INTERVALS = 10  # fewer faces: the page shows the point values only
Interval = tuple[float, float, float]


@dataclass
class Scoreboard:
    """One annotator's standing on ``faces`` voted faces (``crowd_faces`` of them have two or
    more crowd votes, which the held-out figures need)."""

    faces: int
    crowd_faces: int
    plurality: Interval | None  # agreement with the crowd's plurality
    held_out: Interval | None  # agreement with a held-out annotator
    worth: Interval | None  # k of the crowd-of-k curve matched (0: below one; inf: above K)
    max_k: int
    confusion: np.ndarray  # int (10, 10): crowd plurality x your answer
    alone: np.ndarray  # int (F,): the faces (of the N) where you stood alone
    models: dict[str, baselines.RowBaseline] = field(default_factory=dict)

    @property
    def with_intervals(self) -> bool:
        return self.crowd_faces >= MIN_FACES_FOR_INTERVALS


def _one_hot(mine: np.ndarray) -> np.ndarray:
    rows = np.zeros((len(mine), NUM_VOTE_COLUMNS))
    rows[np.arange(len(mine)), mine] = 1.0
    return rows


def score(
    others: np.ndarray,
    mine: np.ndarray,
    probs: Mapping[str, np.ndarray] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> Scoreboard:
    """The scoreboard of one annotator (see the module's docstring for the inputs)."""
    others = np.asarray(others)
    mine = np.asarray(mine)
    if others.ndim != 2 or others.shape[1] != NUM_VOTE_COLUMNS:
        raise ValueError(f"others must be (N, {NUM_VOTE_COLUMNS}) counts, got {others.shape}")
    if mine.shape != (len(others),) or not np.issubdtype(mine.dtype, np.integer):
        raise ValueError(f"mine must be ({len(others)},) answer indices, got {mine.shape}")
    if np.any((mine < 0) | (mine >= NUM_VOTE_COLUMNS)):
        raise ValueError(f"mine must index the {NUM_VOTE_COLUMNS} vote columns")
    probs = dict(probs or {})
    voted = others.sum(axis=1) > 0
    confusion = np.zeros((NUM_VOTE_COLUMNS, NUM_VOTE_COLUMNS), dtype=np.int64)
    np.add.at(confusion, (others[voted].argmax(axis=1), mine[voted]), 1)
    alone = np.flatnonzero(lone_dissent(others, mine))
    crowd = others.sum(axis=1) >= 2  # a held-out annotator and at least one more
    board = Scoreboard(len(mine), int(crowd.sum()), None, None, None, 0, confusion, alone)
    if not crowd.any():
        return board
    found = baselines.crowd_of(others[crowd], NUM_CLASSES, n_boot, seed, reliability_boot=0)
    with_mine = others[crowd] + _one_hot(mine[crowd]).astype(np.int64)
    credit = humans.plurality_credit(with_mine, mine[crowd])
    resampled = [
        np.nanmean(credit[index]) for index in metrics.resample_indices(len(credit), n_boot, seed)
    ]
    board.plurality = metrics.percentile_interval(float(np.nanmean(credit)), np.array(resampled))
    me = baselines.place_row(found, _one_hot(mine[crowd]))
    board.held_out, board.worth, board.max_k = me.agreement, me.worth, found.summary.max_k
    board.models = {key: baselines.place_row(found, p[crowd]) for key, p in probs.items()}
    return board
