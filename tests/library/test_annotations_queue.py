"""The Annotate page's queue strategies and scoreboard, checked against direct computation on
small hand-made crowds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bnnfer.annotations import queue, scoreboard


def _entropy(row: np.ndarray) -> float:
    p = row[:8] / row[:8].sum()
    return -sum(x * math.log(x) for x in p if x > 0)


def test_each_strategy_orders_the_faces_as_its_score_says():
    rng = np.random.default_rng(1)
    votes = rng.multinomial(10, np.full(10, 0.1), size=12)
    votes[3] = 0  # a face nobody voted on
    samples = {
        "a": rng.dirichlet(np.ones(8), size=(4, 12)),
        "b": rng.dirichlet(np.ones(8), (6, 12)),
    }
    entropy = [_entropy(v) if v[:8].sum() else -1 for v in votes]
    assert list(queue.order("vote entropy", 12, votes)) == sorted(
        range(12), key=lambda i: -entropy[i]
    )
    assert queue.order("fewest votes", 12, votes)[0] == 3
    assert list(queue.order("file order", 12)) == list(range(12))
    assert sorted(queue.order("random", 12, seed=5)) == list(range(12))
    mi = {k: [] for k in samples}
    for key, s in samples.items():
        mean = s.mean(axis=0)
        mi[key] = [_entropy(np.r_[m, 0, 0]) - np.mean([_entropy(np.r_[x, 0, 0]) for x in s[:, i]])
                   for i, m in enumerate(mean)]  # fmt: skip
    score = np.mean([mi["a"], mi["b"]], axis=0)
    assert list(queue.order("mutual information", 12, votes, samples)) == list(np.argsort(-score))
    assert queue.order("models vs people (JSD)", 12, votes, samples)[-1] == 3  # no votes: last
    assert queue.available(has_votes=False, has_models=True) == [
        "random", "mutual information", "fewest votes", "file order"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="needs the models' samples"):
        queue.order("mutual information", 12, votes)
    with pytest.raises(ValueError, match="strategy must be one of"):
        queue.order("hardest", 12)


def test_next_face_skips_those_done():
    assert queue.next_face(np.array([2, 0, 1]), np.array([False, True, True])) == 0
    assert queue.next_face(np.array([0, 1]), np.array([True, True])) is None


def test_the_scoreboard_matches_counting_by_hand():
    others = np.array(
        [
            [5, 3, 0, 0, 0, 0, 0, 0, 0, 0],  # crowd says neutral; you say happiness
            [0, 4, 4, 0, 0, 0, 0, 0, 0, 0],  # a tie: half credit either way
            [0, 0, 0, 6, 0, 0, 0, 0, 0, 0],  # unanimous sadness; you say anger: alone
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # one vote: no held-out figures
        ]
    )
    mine = np.array([1, 2, 4, 0])
    model = np.eye(8)[[0, 1, 3, 0]] * 0.9 + 0.1 / 8
    board = scoreboard.score(others, mine, {"m": model}, n_boot=50)
    assert board.faces == 4 and board.crowd_faces == 3
    assert board.plurality[0] == pytest.approx((0 + 0.5 + 0) / 3)
    assert board.held_out[0] == pytest.approx((3 / 8 + 4 / 8 + 0 / 6) / 3)
    assert board.models["m"].agreement[0] == pytest.approx((5 / 8 + 4 / 8 + 6 / 6) / 3)
    assert list(board.alone) == [2]
    expected = np.zeros((10, 10), dtype=int)
    for crowd_top, you in [(0, 1), (1, 2), (3, 4), (0, 0)]:
        expected[crowd_top, you] += 1
    assert np.array_equal(board.confusion, expected)
    assert not board.with_intervals  # 3 faces
    with pytest.raises(ValueError, match="mine must index"):
        scoreboard.score(others, np.array([1, 2, 4, 10]))


def test_worth_is_read_on_the_crowd_curve_of_the_same_faces():
    rng = np.random.default_rng(0)
    others = rng.multinomial(9, [0.6, 0.2, 0.1, 0.05, 0.05, 0, 0, 0, 0, 0], size=40)
    perfect = others.argmax(axis=1)  # always the crowd's plurality
    board = scoreboard.score(others, perfect, n_boot=50)
    assert board.with_intervals and board.max_k == 8
    curve = board.worth[0]
    assert curve >= 1.0  # the plurality of all nine beats a single annotator
    for a, b in itertools.pairwise([board.worth[1], board.worth[0], board.worth[2]]):
        assert a <= b
