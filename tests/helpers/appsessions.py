"""Helpers of the AppTest tests: a session opened with sidebar choices once the predictions are
computed, and the tiny bundle's evaluation made the built-in one."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bnnfer.cli import main
from bnnfer.inference import computations

ROOT = Path(__file__).resolve().parents[2]


def settled(**state) -> AppTest:
    """The Overview of a session opened with these widget values once the predictions are
    computed (AppTest skips the sidebar on reruns: each choice opens a session)."""
    for _ in range(2):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        for computation in computations.running():
            computation.wait(120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def builtin_evaluation(app_env: tuple, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The tiny bundle's evaluation of Valid in the shipped form (``bnnfer evaluate
    --compact``), made the built-in one through ``BNNFER_BUILTIN_EVALUATION``."""
    root, models, _ = app_env
    builtin = tmp_path / "builtin"
    argv = [
        "evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
        "--samples", "30", "--n-boot", "7", "--out", str(builtin), "--compact",
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(builtin))
    return builtin
