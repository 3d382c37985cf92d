"""No code path unpickles: the package and the dashboard never call torch.load, pickle, or
NumPy loading with allow_pickle=True (weights come from safetensors, caches from plain npz)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(
    r"torch\.load\(|\bimport pickle\b|\bpickle\.|allow_pickle\s*=\s*True|"
    r"\bimport dill\b|\bjoblib\.load\("
)


def test_no_source_file_can_unpickle():
    sources = [*ROOT.glob("bnnfer/*.py"), *ROOT.glob("bnnfer_dashboard/**/*.py"), ROOT / "app.py"]
    assert len(sources) > 10
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FORBIDDEN.search(line)
    ]
    assert offenders == []
