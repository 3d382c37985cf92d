"""The CPU cores one test process may use, alone or as one of pytest-xdist's workers.

The suite runs in parallel (``-n auto`` in pyproject.toml). Two workers on 2 cores that each ask
torch for every core run four OpenMP threads on two cores, and OpenMP's spin-waiting barriers then
make a training step several times slower than on one thread. Every process the suite starts
(its own torch, a dashboard server, a command-line subprocess) therefore keeps to its share.
"""

from __future__ import annotations

import os


def worker_count() -> int:
    """How many test processes share the machine: pytest-xdist's workers, or 1."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def worker_cores() -> int:
    """This process's share of the cores: ``cpu_count // workers``, at least 1."""
    return max(1, (os.cpu_count() or 1) // worker_count())
