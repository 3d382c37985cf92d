"""CPU cores shared by the training processes still running (`SharedCores`).

`train-all` deals the bundle's networks out to one process per core (`bundle.share_jobs`), and
whole networks do not divide evenly: nine networks on two cores leave one process with a network
to train alone after the other has finished its share. A core freed that way goes to the
processes still training: each takes ``cores // live`` intra-op threads at its next epoch, so
the last network runs with every thread instead of beside an idle core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class SharedCores:
    """``cores`` CPU cores and a process-shared count of the training processes still running.

    Create it in the parent with `for_processes`, hand it to each process (``mp.spawn`` args),
    call `take` at every epoch and `leave` once a process has no more networks to train.
    """

    cores: int
    live: Any  # a multiprocessing.Value("i") from the context the processes are started with

    @classmethod
    def for_processes(cls, cores: int, processes: int, context: Any) -> SharedCores:
        """``processes`` training processes about to start on ``cores`` cores; ``context`` is
        the multiprocessing context that starts them (``torch.multiprocessing.get_context``)."""
        if cores < 1 or processes < 1:
            raise ValueError(f"need at least one core and one process, got {cores} and {processes}")
        return cls(cores, context.Value("i", processes))

    def threads(self) -> int:
        """This process's fair share of the cores now: ``cores // live``, at least one."""
        return max(1, self.cores // max(1, self.live.value))

    def take(self) -> int:
        """Set this process's intra-op threads to its share (`threads`) and return it. Called
        from the training thread itself: OpenMP's thread count belongs to the calling thread."""
        threads = self.threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return threads

    def leave(self) -> None:
        """This process trains no more: its cores go to the others at their next epoch."""
        with self.live.get_lock():
            self.live.value -= 1
