"""Process-wide tuning of the C allocator, which CPU inference on large batches depends on.

Every MC pass allocates and frees the same activations: ``(128, 32, 48, 48)`` float32 is 38 MB.
By default glibc hands out blocks above its mmap threshold (adaptive, at most 32 MB) as fresh
mappings, unmaps them when freed, and returns freed heap memory above its trim threshold to
the kernel, so each pass page-faults its activations in again (the kernel zeroes every page).
`benchmarks/allocator.py` runs the same passes in a process with and one without
(`benchmarks/results/allocator.json`, docs/benchmarks.md): they run faster once freed memory
stays with the process.

`keep_freed_memory` raises both thresholds through glibc's ``mallopt``. It changes every
allocation of the process, so it is the process owner's call: the ``bnnfer`` CLI and the
dashboard make it, the library never does on import. The cost is that the process keeps the
peak of what it freed (a few hundred MB for inference) instead of returning it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# serve every block under 1 GiB from the heap, and never trim the heap
_MMAP_THRESHOLD = 1 << 30
_TRIM_THRESHOLD = 2**31 - 1

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel.

    Returns:
        True where glibc accepted both settings (now or at an earlier call); False where
        the C library is not glibc (macOS, Windows, musl) or refused, with nothing changed.
    """
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library where it is glibc (``mallopt`` and ``malloc_trim`` typed), else None.
    `release_freed_memory` calls ``malloc_trim`` through it."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: other mallopts mean other things
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def _set_thresholds() -> bool:
    libc = _glibc()
    if libc is None:
        return False
    # the mmap threshold first: glibc refuses thresholds it cannot honour, and then the trim
    # threshold alone would switch off its adaptive mmap threshold and slow things down
    if libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) != 1:
        return False
    return libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1


def release_freed_memory() -> bool:
    """Hand the free memory glibc is keeping back to the kernel now (``malloc_trim(0)``): a
    peak-memory measurement (`benchmarks/bench.py`) calls it first, so that what earlier passes
    freed and the process kept (`keep_freed_memory`) does not count as the next pass's. False
    where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
