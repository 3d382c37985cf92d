"""Several sessions at once: what they share is computed once, and photo and video work waits
its turn in a queue that tells each upload its place."""

from __future__ import annotations

import ast
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bnnfer.evaluation import views
from bnnfer.inference import computations
from bnnfer.training.bundle import read_registry
from bnnfer_dashboard.serving import WorkQueue, ordinal

ROOT = Path(__file__).resolve().parents[2]
ROW_COUNT = len(read_registry())


def test_two_sessions_asking_at_once_compute_each_row_once(app_env, monkeypatch):
    first = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    for computation in computations.running():
        computation.wait(120)
    assert not first.exception, [e.value for e in first.exception]
    st.cache_data.clear()  # the predictions are on disk; every table row is to compute again
    calls, real_row = Counter(), views.comparison_row

    def counted_row(preds, key, *args, **kwargs):
        calls[key] += 1
        time.sleep(0.2)  # long enough for the other session to ask meanwhile
        return real_row(preds, key, *args, **kwargs)

    monkeypatch.setattr(views, "comparison_row", counted_row)
    # Python 3.11's parser can fail when two threads build ASTs at once ("AST constructor
    # recursion depth mismatch", CPython gh-106905); each session parses its scripts, so the
    # parses take turns. The scripts' runs, and so the rows, still overlap.
    parsing, real_parse = threading.Lock(), ast.parse

    def one_parse_at_a_time(*args, **kwargs):
        with parsing:
            return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", one_parse_at_a_time)
    sessions = [AppTest.from_file(str(ROOT / "app.py"), default_timeout=120) for _ in range(2)]
    threads = [threading.Thread(target=session.run) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    for session in sessions:
        assert not session.exception, [e.value for e in session.exception]
        assert len(session.dataframe[0].value) == ROW_COUNT
    assert len(calls) == ROW_COUNT and set(calls.values()) == {1}, calls


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="place"):
        ordinal(0)


def _until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_the_queue_runs_one_at_a_time_in_arrival_order_and_tells_each_its_place():
    queue = WorkQueue(jobs=1)
    order, places = [], {name: [] for name in "abc"}
    release = {name: threading.Event() for name in "abc"}

    def job(name: str) -> None:
        with queue.turn(places[name].append):
            order.append(name)
            release[name].wait(10)

    threads = {name: threading.Thread(target=job, args=(name,)) for name in "abc"}
    for name in "abc":  # one after the other: "a" runs, "b" then "c" wait
        threads[name].start()
        assert _until(lambda name=name: name in order or places[name])
    assert order == ["a"] and places == {"a": [], "b": [1], "c": [2]}
    release["a"].set()
    assert _until(lambda: order == ["a", "b"] and places["c"] == [2, 1])
    release["b"].set()
    release["c"].set()
    for thread in threads.values():
        thread.join(10)
    assert order == ["a", "b", "c"] and places == {"a": [], "b": [1], "c": [2, 1]}


def test_the_queue_refuses_no_jobs():
    with pytest.raises(ValueError, match="jobs"):
        WorkQueue(jobs=0)
