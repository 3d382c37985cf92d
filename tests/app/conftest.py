"""The environment every AppTest of the dashboard runs in: the tiny bundle and its synthetic
FER+ folder, and no evaluation on disk, so each page computes what it shows."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_env(tiny_bundle, monkeypatch, tmp_path):
    """``(data root, bundle folder, splits)``, with the working directory at the repository
    root and the app's environment variables pointing at them."""
    root, models, splits = tiny_bundle
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("BNNFER_MODELS", str(models))
    monkeypatch.setenv("BNNFER_DATA", str(root))
    monkeypatch.setenv("BNNFER_EVALUATION", str(tmp_path / "no-evaluation"))
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(tmp_path / "no-builtin-evaluation"))
    return root, models, splits
