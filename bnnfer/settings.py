"""Every ``BNNFER_*`` environment variable bnnfer reads, with its default, in one place.

Each variable is read when it is asked for (not at import), so that a test or a long-running
dashboard sees the value of the moment. `SETTINGS` lists them for the documentation
(docs/data.md's table is checked against it); nothing else in bnnfer, the dashboard or the
benchmarks reads a ``BNNFER_*`` variable directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def _package_data(name: str) -> Path:
    """The folder ``bnnfer/assets/<name>``, shipped in the package as package data (a checkout
    and an installed wheel alike); bnnfer must be installed as files, not run from a zip."""
    folder = resources.files("bnnfer") / "assets" / name
    if not isinstance(folder, Path):
        raise RuntimeError(f"bnnfer's {name} must be files on disk, not {type(folder).__name__}")
    return folder


# where the bundled networks and their evaluation of FER+ Valid live (``bnnfer evaluate
# --compact``: votes and samples, no pixels)
BUNDLED_MODELS = _package_data("models")
BUNDLED_EVALUATION = _package_data("evaluation")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, what it names, and the default's description."""

    name: str
    means: str
    default: str


SETTINGS = (
    Setting("BNNFER_DATA", "the FER+ folder (or a folder of your own faces)", "`./data/ferplus`"),
    Setting(
        "BNNFER_CACHE",
        "where decoded splits, predictions and partial computations are cached",
        "`$XDG_CACHE_HOME/bnnfer`, else `~/.cache/bnnfer`",
    ),
    Setting(
        "BNNFER_MODELS", "the bundle of networks every command and page reads", "the bundled models"
    ),
    Setting(
        "BNNFER_EVALUATION",
        "the dashboard's evaluation folder (what `bnnfer evaluate --out` wrote)",
        "`./bnnfer-evaluation`",
    ),
    Setting(
        "BNNFER_BUILTIN_EVALUATION",
        "the evaluation the dashboard shows without a FER+ folder",
        "the bundled evaluation of FER+ Valid",
    ),
    Setting(
        "BNNFER_ANNOTATIONS",
        "the annotations database: an SQLite file's path or a SQLAlchemy URL",
        "`$XDG_DATA_HOME/bnnfer/annotations.sqlite`, else `~/.local/share/bnnfer/...`",
    ),
)


def _read(name: str) -> str | None:
    """The variable ``name``'s value, None when it is unset or empty."""
    return os.environ.get(name) or None


def data_dir() -> Path:
    """``$BNNFER_DATA``, else ``./data/ferplus``."""
    value = _read("BNNFER_DATA")
    return Path(value).expanduser() if value else Path("data") / "ferplus"


def cache_dir() -> Path:
    """``$BNNFER_CACHE``, else ``$XDG_CACHE_HOME/bnnfer``, else ``~/.cache/bnnfer``."""
    value = _read("BNNFER_CACHE")
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "bnnfer"


def models_dir() -> Path:
    """``$BNNFER_MODELS``, else the bundled models."""
    value = _read("BNNFER_MODELS")
    return Path(value).expanduser() if value else BUNDLED_MODELS


def evaluation_dir() -> Path:
    """``$BNNFER_EVALUATION``, else ``./bnnfer-evaluation`` (where ``bnnfer evaluate`` writes)."""
    value = _read("BNNFER_EVALUATION")
    return Path(value).expanduser() if value else Path("bnnfer-evaluation")


def builtin_evaluation_dir() -> Path:
    """``$BNNFER_BUILTIN_EVALUATION``, else the bundled evaluation of FER+ Valid."""
    value = _read("BNNFER_BUILTIN_EVALUATION")
    return Path(value).expanduser() if value else BUNDLED_EVALUATION


def annotations_target() -> str | Path:
    """``$BNNFER_ANNOTATIONS`` (a file path or SQLAlchemy URL), else the SQLite file
    ``$XDG_DATA_HOME/bnnfer/annotations.sqlite``, else ``~/.local/share/bnnfer/...``."""
    value = _read("BNNFER_ANNOTATIONS")
    if value:
        return value
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "bnnfer" / "annotations.sqlite"
