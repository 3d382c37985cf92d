"""The headline figures the README, the model card and docs/results.md quote are the shipped
evaluation's (`bnnfer/assets/evaluation/metrics.json`, `metrics.md`): every cell of their results
tables, and the face counts of both accuracy protocols, is checked against it, so a regenerated
evaluation cannot leave the prose behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnnfer.evaluation import baselines
from bnnfer.evaluation.reporting import format_interval

ROOT = Path(__file__).resolve().parents[2]
EVALUATION = json.loads((ROOT / "bnnfer/assets/evaluation/metrics.json").read_text())


def interval(cell: dict, digits: int = 3, signed: bool = False) -> str:
    """A metrics.json cell as the tables write it (`format_interval`)."""
    return format_interval(cell["value"], cell["low"], cell["high"], digits, signed)


def readme_row(key: str) -> list[str]:
    """The README's results-table cells for the evaluation's row ``key``."""
    cells = EVALUATION["metrics"][key]
    # one sample (a deterministic pass): no mutual information, so no AUROC of it
    sampled = cells["mutual_information"]["value"] > 0
    paired = EVALUATION["minus_classical"].get(key)
    return [
        EVALUATION["labels"][key],
        interval(cells["accuracy"]),
        interval(cells["accuracy_majority"]),
        interval(cells["nll"]),
        interval(cells["jsd"]),
        interval(cells["human_ece"]),
        interval(cells["auroc_mi"]) if sampled else "no samples",
        interval(paired["jsd"], 4, signed=True) if paired else "",
    ]


def card_row(key: str) -> list[str]:
    """The model card's cells for the row ``key``: accuracy under both protocols."""
    cells = EVALUATION["metrics"][key]
    label = EVALUATION["labels"][key]
    return [label, interval(cells["accuracy"]), interval(cells["accuracy_majority"])]


def among_row(key: str) -> list[str]:
    """The model card's cells for the row ``key`` among the annotators: its agreement with a
    held-out annotator (percent) and the k annotators it is worth, with their intervals."""
    row = EVALUATION["human_baselines"]["rows"][key]
    value, low, high = row["agreement"]
    max_k = EVALUATION["human_baselines"]["max_k"]
    return [
        EVALUATION["labels"][key],
        f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]",
        baselines.worth_range(tuple(row["worth"]), max_k),
    ]


def table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header starts with ``first_header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


@pytest.mark.parametrize(
    ("document", "header", "expected"),
    [
        ("README.md", "Method", readme_row),
        ("bnnfer/assets/models/README.md", "Row", card_row),
        ("bnnfer/assets/models/README.md", "Model", among_row),
    ],
)
def test_results_tables_are_the_shipped_evaluation(document, header, expected):
    rows = table_rows((ROOT / document).read_text(), header)
    assert rows == [expected(key) for key in EVALUATION["methods"]], (
        f"{document}'s results table differs from bnnfer/assets/evaluation/metrics.json: "
        "regenerate it"
    )


def test_the_readme_names_both_protocols_face_counts():
    readme = (ROOT / "README.md").read_text()
    assert f"Accuracy (plurality, {EVALUATION['faces']:,} faces)" in readme
    assert f"Accuracy (Barsoum majority, {EVALUATION['faces_majority']:,} faces)" in readme


def test_the_table_reader_and_formats():
    markdown = "text\n| Row | a |\n| --- | --- |\n| x | 1 |\n| y |  |\n\nafter\n| z | 2 |"
    assert table_rows(markdown, "Row") == [["x", "1"], ["y", ""]]
    cell = {"value": 0.00039, "low": -0.00016, "high": 0.00087}
    assert interval(cell, 4, signed=True) == "+0.0004 [-0.0002, +0.0009]"
    assert interval({"value": 0.8138, "low": 0.8017, "high": 0.827}) == "0.814 [0.802, 0.827]"


def test_results_md_holds_the_evaluations_tables_verbatim():
    tables = (ROOT / "bnnfer/assets/evaluation/metrics.md").read_text().strip()
    assert tables in (ROOT / "docs/results.md").read_text(), (
        "docs/results.md must quote bnnfer/assets/evaluation/metrics.md as it stands"
    )
