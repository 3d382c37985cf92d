"""What the AppTest modules share: the app's environment on the tiny bundle and synthetic
FER+ folder, with no evaluation files to find."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_env(tiny_bundle, monkeypatch, tmp_path):
    """The tiny bundle's models and data, run from the repository: ``(root, models, splits)``."""
    root, models, splits = tiny_bundle
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("BNNFER_MODELS", str(models))
    monkeypatch.setenv("BNNFER_DATA", str(root))
    monkeypatch.setenv("BNNFER_EVALUATION", str(tmp_path / "no-evaluation"))
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(tmp_path / "no-builtin-evaluation"))
    return root, models, splits
