"""bnnfer.allocator: on glibc the thresholds are accepted; elsewhere nothing changes; the call is
idempotent and allocation still works after it."""

from __future__ import annotations

import platform

import torch

from bnnfer import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_only_and_is_idempotent() -> None:
    first = keep_freed_memory()
    assert first is keep_freed_memory()
    assert first == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    big = torch.ones(64, 2**20)  # 256 MB: now served from the heap, freed and reused
    del big
    assert torch.zeros(64, 2**20).sum().item() == 0.0
