"""The queue that photo and video work from every session of the process waits in.

A photo or a video runs the models and the face detector, and several at once only slow each
other down past what the cores give. `WorkQueue` lets as many run at a time as the process has
cores, not one: a photo's small batches leave torch's threads idle much of the time, so two at
once finish sooner than one after the other (measured in docs/benchmarks.md, "Many sessions at
once"). The others wait in arrival order, each shown its place in line ("2nd in
line") rather than a stall. The queue is one per process (`work_queue`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator

import streamlit as st


def ordinal(place: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``12th``, ``21st``."""
    if place < 1:
        raise ValueError(f"place must be >= 1, got {place}")
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


class WorkQueue:
    """At most ``jobs`` holders of a turn at once; the others wait first come, first served."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()
        self._running = 0

    def place(self, ticket: object) -> int:
        """``ticket``'s place among those waiting (1: next), 0 when it may run now."""
        if self._running < self.jobs and self._waiting[0] is ticket:
            return 0
        return self._waiting.index(ticket) + 1

    @contextlib.contextmanager
    def turn(self, waiting: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a turn for the block; while waiting, ``waiting(place)`` is called each time the
        place in line changes (outside the queue's lock)."""
        ticket, shown = object(), None
        with self._changed:
            self._waiting.append(ticket)
        try:
            while True:
                with self._changed:
                    place = self.place(ticket)
                    if place == 0:
                        self._waiting.popleft()
                        self._running += 1
                        break
                if place != shown and waiting is not None:
                    waiting(place)
                shown = place
                with self._changed:
                    if self.place(ticket) == shown:
                        self._changed.wait(timeout=1.0)
        except BaseException:
            with self._changed:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._changed.notify_all()
            raise
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()


@st.cache_resource
def work_queue() -> WorkQueue:
    """The process's queue for photo and video work: as many at a time as it has cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return WorkQueue(cores or 1)


def in_line(what: str) -> contextlib.AbstractContextManager[None]:
    """A turn in the process's work queue for ``what`` (a photo, a video); while it waits, a
    line saying its place ("2nd in line"), removed when its turn comes."""
    note = st.empty()

    def waiting(place: int) -> None:
        note.info(
            f"Your {what} is {ordinal(place)} in line: the models analyse "
            f"{work_queue().jobs} upload(s) at a time, in the order they came."
        )

    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        with work_queue().turn(waiting):
            note.empty()
            yield

    return hold()
