"""Shared fixtures: a synthetic FER+ folder, an isolated cache, and the real data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakeferplus import write_folder_layout

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own FER+ cache folder, and BNNFER_DATA is unset unless it sets it."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BNNFER_CACHE", str(cache))
    monkeypatch.delenv("BNNFER_DATA", raising=False)
    return cache


@pytest.fixture
def fake_ferplus(tmp_path) -> tuple[Path, dict]:
    """A FERPlus folder layout with 40 train, 24 valid and 16 test faces."""
    root = tmp_path / "ferplus"
    made = write_folder_layout(root, {"train": 40, "valid": 24, "test": 16})
    return root, made


def real_data_dir() -> Path | None:
    """The real FER+ Train/Valid folders: $BNNFER_REAL_DATA, else ../shared/data/ferplus."""
    candidate = Path(os.environ.get("BNNFER_REAL_DATA", REAL_DATA))
    return candidate if (candidate / "FER2013Train" / "label.csv").is_file() else None


@pytest.fixture
def real_ferplus() -> Path:
    root = real_data_dir()
    if root is None:
        pytest.skip("the real FER+ data is not present (../shared/data/ferplus)")
    return root
