"""The code is as `ruff format` writes it, so no change has to reformat lines it did not touch.

Hand layout is kept only where a statement says why: ``# fmt: skip  # table layout``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORMATTED = ["bnnfer", "benchmarks", "bnnfer_dashboard", "tests", "app.py"]


def _ruff() -> list[str] | None:
    """The ruff of this environment: the binary beside the interpreter, else ``python -m ruff``."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.is_file():
        return [str(beside)]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    return None


def test_ruff_format_check_passes() -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [*ruff, "format", "--check", *FORMATTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"ruff format --check failed (run `ruff format {' '.join(FORMATTED)}`):\n"
        + done.stdout
        + done.stderr
    )
