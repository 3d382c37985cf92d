"""Finding what a run left on disk: snapshots of folders, and the new or changed files that hold
an upload's bytes (or a piece of them) or are images. Used by the privacy tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def snapshot(*roots: Path, skip: tuple[str, ...] = ()) -> dict[Path, tuple[int, int]]:
    """Every file under ``roots`` -> (size, mtime in ns), leaving out folders named in ``skip``."""
    files = {}
    for root in roots:
        for path in root.rglob("*"):
            if any(part in skip for part in path.relative_to(root).parts[:-1]):
                continue
            if path.is_file():
                stat = path.stat()
                files[path] = (stat.st_size, stat.st_mtime_ns)
    return files


def traces(before: dict, after: dict, secrets: list[bytes], images: bool = True) -> list[str]:
    """New or changed files between two snapshots that hold any of ``secrets`` (or a 1 KiB
    piece of one taken every 4 KiB, as a partial write would), or, with ``images``, that are
    images (no upload path writes any; off where other work may write images, as in a checkout)."""
    found = []
    for path, stamp in after.items():
        if before.get(path) == stamp:
            continue
        content = path.read_bytes()
        pieces = [s[i : i + 1024] for s in secrets for i in range(0, max(1, len(s) - 1023), 4096)]
        if any(piece and piece in content for piece in pieces):
            found.append(f"{path} holds the upload's bytes or a crop")
            continue
        if not images:
            continue
        try:
            with Image.open(io.BytesIO(content)):
                found.append(f"{path} is an image")
        except Exception:  # not an image: fine
            pass
    return found
