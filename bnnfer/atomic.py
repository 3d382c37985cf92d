"""Atomic file replacement: the one way bnnfer writes a file that a reader (the dashboard, a
resumed run, another process sharing the cache) may open at any moment.

The content goes to a temporary file in the target's own folder (a rename is only atomic within
one file system), is flushed to disk, made readable by everyone (``mkstemp`` makes it private;
caches and checkpoints are shared), and renamed over the target. A reader therefore sees the
old file or the new one, never a part; a write that fails or is interrupted leaves the old file
as it was and removes its temporary file. A file already written whole elsewhere in the same
folder (a finished training member) is moved over its target the same way (`replace_atomic`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Replace ``path`` with what ``write(file)`` writes into a binary file object (for
    instance ``lambda f: np.savez(f, ...)``), creating its folder if needed; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` (see `write_atomic`)."""
    return write_atomic(path, lambda file: file.write(data))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Replace ``path`` with ``text`` encoded as UTF-8 (see `write_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def replace_atomic(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Move the finished file ``source`` over ``target`` in one rename (both on one file
    system): a reader sees the old ``target`` or ``source``'s content; returns the target."""
    os.replace(source, target)
    return Path(target)
