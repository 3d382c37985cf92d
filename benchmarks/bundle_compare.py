"""The shipped bundle against an earlier one, row by row, on the faces both evaluations cover:
what a retrained bundle changed, read from the two shipped evaluations alone (no model is run
and no FER+ folder is needed).

Each evaluation is a predictions file (`bnnfer/assets/evaluation/predictions-valid.npz`: per face
its votes and every row's samples ``(S, N, C)``); the earlier one is read from a file or from a git
revision of this repository (``git:REV``, its shipped file at that commit). For every row both
hold: accuracy on the plurality label, accuracy under the Barsoum protocol, mean JSD to the votes
and human ECE, each of the current bundle, with its paired difference from the earlier bundle's
same row and a 95% bootstrap interval (both rows resampled on the same faces:
`candidates.row_scores`). Writes ``benchmarks/results/bundle_compare.json`` and ``.md``:

    python benchmarks/bundle_compare.py --previous git:0b56bc0
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import bench
import numpy as np
from candidates import SHIPPED, row_scores

from bnnfer.atomic import write_text_atomic
from bnnfer.evaluation.predictions import read_predictions
from bnnfer.evaluation.reporting import format_interval

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/bundle_compare.json"
# (figure, column title, digits): accuracies in percent points, JSD and human ECE as they are
FIGURES = (
    ("accuracy", "Accuracy", 1),
    ("accuracy_majority", "Barsoum", 1),
    ("jsd", "JSD to the votes", 4),
    ("human_ece", "Human ECE", 3),
)


def read_evaluation(spec: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a predictions file, or of the shipped one at revision ``REV`` of
    this repository for ``git:REV``."""
    if not spec.startswith("git:"):
        return read_predictions(spec)
    revision = spec.removeprefix("git:")
    relative = SHIPPED.relative_to(ROOT).as_posix()
    try:
        blob = subprocess.run(
            ["git", "show", f"{revision}:{relative}"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"{spec}: {error.stderr.decode().strip()}") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "previous.npz"
        path.write_bytes(blob)
        return read_predictions(path)


def compare(
    current: dict[str, np.ndarray], previous: dict[str, np.ndarray], n_boot: int
) -> dict[str, dict[str, list[float]]]:
    """Per row both evaluations hold, `candidates.row_scores` of the current row's predictive
    mean ``(N, C)`` against the previous row's. The two must cover the same faces, in order,
    with the same votes."""
    if list(current["names"]) != list(previous["names"]):
        raise SystemExit("the two evaluations cover different faces")
    if not np.array_equal(current["votes"], previous["votes"]):
        raise SystemExit("the two evaluations hold different votes for the same faces")
    rows = [name.removesuffix(".samples") for name in current if name.endswith(".samples")]
    scores = {}
    for row in rows:
        if f"{row}.samples" not in previous:
            continue
        mean = current[f"{row}.samples"].astype(np.float32).mean(0)
        reference = previous[f"{row}.samples"].astype(np.float32).mean(0)
        scores[row] = row_scores(mean, current["votes"], reference, n_boot)
    return scores


def markdown(document: dict) -> str:
    """The comparison as a Markdown table: each figure of the current row, then its paired
    difference from the previous bundle's row (accuracies in percent and points)."""
    header = ["Row"]
    for _, title, _ in FIGURES:
        header += [title, f"{title} minus previous"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row, scores in document["rows"].items():
        cells = [document["labels"].get(row, row)]
        for name, _, digits in FIGURES:
            scale = 100 if name.startswith("accuracy") else 1
            diff, low, high = (x * scale for x in scores[f"{name}_minus_bundled"])
            cells.append(f"{scores[name][0] * scale:.{digits}f}")
            cells.append(format_interval(diff, low, high, digits, signed=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--previous", required=True, help="earlier predictions file, or git:REV for the shipped one"
    )
    parser.add_argument("--current", default=str(SHIPPED), help="the bundle's predictions")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    meta, current = read_evaluation(args.current)
    previous_meta, previous = read_evaluation(args.previous)
    from bnnfer.training.bundle import ROWS

    document = {
        "split": meta.get("split"),
        "faces": len(current["names"]),
        "n_boot": args.n_boot,
        "current": {"source": args.current, "models_digest": meta.get("models_digest")},
        "previous": {"source": args.previous, "models_digest": previous_meta.get("models_digest")},
        "labels": {row.key: row.label for row in ROWS},
        **bench.machine(),
        "rows": compare(current, previous, args.n_boot),
    }
    table = markdown(document)
    bench.write_json(args.out, document)
    write_text_atomic(Path(args.out).with_suffix(".md"), table)
    print(table)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
