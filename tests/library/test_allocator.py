"""bnnfer.allocator: on glibc the thresholds are accepted; elsewhere nothing changes; the call is
idempotent and allocation still works after it. `release_freed_memory` hands the kept memory
back."""

from __future__ import annotations

import platform

import pytest
import torch

from bnnfer import keep_freed_memory
from bnnfer.allocator import release_freed_memory


def test_keep_freed_memory_applies_on_glibc_only_and_is_idempotent() -> None:
    first = keep_freed_memory()
    assert first is keep_freed_memory()
    assert first == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    big = torch.ones(64, 2**20)  # 256 MB: now served from the heap, freed and reused
    del big
    assert torch.zeros(64, 2**20).sum().item() == 0.0


def _rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_release_freed_memory_returns_kept_memory_to_the_kernel() -> None:
    """With freed memory kept, a freed 256 MB block stays resident until released."""
    assert keep_freed_memory()
    block = torch.ones(64, 2**20)
    before = _rss_mib()
    del block
    kept = _rss_mib()
    assert release_freed_memory()
    assert kept > before - 64  # still resident after the free
    assert _rss_mib() < kept - 128  # handed back
