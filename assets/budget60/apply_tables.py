"""Rewrite the body rows of the results tables that tests/docs/test_readme_figures.py checks
(the README's, and the model card's two) from the shipped evaluation's metrics.json.

    python assets/budget60/apply_tables.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "docs"))

import test_readme_figures as figures  # noqa: E402


def replace_body(markdown: str, first_header: str, rows: list[list[str]]) -> str:
    """``markdown`` with the body of the table whose header starts with ``first_header``
    replaced by ``rows``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    body = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines[: start + 2], *body, *lines[end:]]) + "\n"


def main() -> None:
    keys = figures.EVALUATION["methods"]
    jobs = [
        ("README.md", "Method", figures.readme_row),
        ("bnnfer/assets/models/README.md", "Row", figures.card_row),
        ("bnnfer/assets/models/README.md", "Model", figures.among_row),
    ]
    for document, header, row in jobs:
        path = ROOT / document
        text = path.read_text()
        path.write_text(replace_body(text, header, [[c for c in row(k)] for k in keys]))
        print(f"rewrote the {header!r} table of {document}")


if __name__ == "__main__":
    main()
