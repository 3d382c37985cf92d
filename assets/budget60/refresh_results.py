"""Put the shipped evaluation's tables (`bnnfer/assets/evaluation/metrics.md`) and the
bundle comparison (`benchmarks/results/bundle_compare.md`) into the top of docs/results.md,
in place of the ones the draft was written with; then print the ⟦...⟧ marks left to settle.

    python assets/budget60/refresh_results.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TITLE = "# Results on FER+ Valid\n\n"
PRODUCED = "\n\nProduced by `bnnfer evaluate"
COMPARE_HEADER = "| Row | Accuracy | Accuracy minus previous |"


def main() -> None:
    path = ROOT / "docs/results.md"
    text = path.read_text()
    metrics = (ROOT / "bnnfer/assets/evaluation/metrics.md").read_text().strip()
    compare = (ROOT / "benchmarks/results/bundle_compare.md").read_text().strip()
    assert text.startswith(TITLE), "docs/results.md does not open with its title"
    end = text.index(PRODUCED)
    text = TITLE + metrics + text[end:]
    # the first comparison table is the shipped bundle's (the 24-epoch one's comes later)
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(COMPARE_HEADER))
    stop = start
    while stop < len(lines) and lines[stop].startswith("|"):
        stop += 1
    lines[start:stop] = compare.split("\n")
    text = "\n".join(lines)
    path.write_text(text)
    print("refreshed the tables of docs/results.md")
    for document in ("docs/results.md", "README.md", "bnnfer/assets/models/README.md"):
        for number, line in enumerate((ROOT / document).read_text().splitlines(), 1):
            if "⟦" in line:
                print(f"{document}:{number}: {line.strip()}")


if __name__ == "__main__":
    main()
