"""benchmarks/bundle_compare.py: two hand-made evaluations compared row by row (a row that got one
face right more than before gains exactly that share; a row against itself differs by nothing),
evaluations of other faces or votes refused, the earlier one read from a git revision, and the
Markdown table's cells."""

from __future__ import annotations

import json
from pathlib import Path

import bundle_compare
import numpy as np
import pytest

from bnnfer.evaluation.predictions import write_predictions

# 8 emotion columns, then unknown and NF: pluralities 0, 2, 3, 1
VOTES = np.array(
    [
        [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 6, 4, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 9, 1, 0, 0, 0, 0, 0],
        [0, 7, 3, 0, 0, 0, 0, 0, 0, 0],
    ]
)
NAMES = np.array([f"fer{i:07d}.png" for i in range(len(VOTES))])


def _samples(classes: list[int], draws: int = 1) -> np.ndarray:
    """``(draws, N, 8)`` samples sure of ``classes``, a little mass elsewhere."""
    probs = np.full((len(classes), 8), 0.01)
    probs[np.arange(len(classes)), classes] = 0.93
    return np.repeat(probs[None], draws, axis=0)


def _write(path: Path, rows: dict[str, np.ndarray], votes: np.ndarray = VOTES) -> Path:
    write_predictions(path, {"models_digest": path.stem}, NAMES, votes, rows, "valid", True)
    return path


def test_a_row_that_got_one_more_face_right_gains_a_quarter(tmp_path):
    previous = _write(
        tmp_path / "old.npz", {"classical": _samples([0, 2, 3, 0]), "gone": _samples([0] * 4)}
    )
    current = _write(
        tmp_path / "new.npz",
        {"classical": _samples([0, 2, 3, 1]), "mc_dropout": _samples([0, 2, 3, 1], draws=3)},
    )
    _, old = bundle_compare.read_evaluation(str(previous))
    _, new = bundle_compare.read_evaluation(str(current))
    scores = bundle_compare.compare(new, old, n_boot=50)
    assert list(scores) == ["classical"]  # only the rows both hold
    assert scores["classical"]["accuracy"][0] == pytest.approx(1.0)
    assert scores["classical"]["accuracy_minus_bundled"][0] == pytest.approx(0.25)
    # Barsoum keeps all four faces (each has one emotion over half the non-single votes)
    assert scores["classical"]["accuracy_majority_minus_bundled"][0] == pytest.approx(0.25)
    assert scores["classical"]["jsd_minus_bundled"][0] < 0  # the new row moved toward the votes


def test_a_row_against_itself_differs_by_nothing(tmp_path):
    path = _write(tmp_path / "same.npz", {"ensemble": _samples([0, 1, 2, 3], draws=5)})
    _, arrays = bundle_compare.read_evaluation(str(path))
    scores = bundle_compare.compare(arrays, arrays, n_boot=30)
    for name, *_ in bundle_compare.FIGURES:
        assert scores["ensemble"][f"{name}_minus_bundled"] == [0.0, 0.0, 0.0]


def test_evaluations_of_other_faces_or_votes_are_refused(tmp_path):
    rows = {"classical": _samples([0, 2, 3, 1])}
    _, base = bundle_compare.read_evaluation(str(_write(tmp_path / "a.npz", rows)))
    other_votes = VOTES.copy()
    other_votes[0] = [0, 8, 2, 0, 0, 0, 0, 0, 0, 0]
    _, revoted = bundle_compare.read_evaluation(str(_write(tmp_path / "b.npz", rows, other_votes)))
    with pytest.raises(SystemExit, match="different votes"):
        bundle_compare.compare(base, revoted, n_boot=10)
    with pytest.raises(SystemExit, match="different faces"):
        bundle_compare.compare(base, {**base, "names": NAMES[::-1]}, n_boot=10)


def test_the_previous_evaluation_is_read_from_a_git_revision():
    meta, arrays = bundle_compare.read_evaluation("git:HEAD")
    assert "models_digest" in meta and arrays["votes"].shape[1] == 10
    with pytest.raises(SystemExit, match="git:no-such-revision"):
        bundle_compare.read_evaluation("git:no-such-revision")


def test_the_script_writes_json_and_the_table(tmp_path, capsys):
    previous = _write(tmp_path / "old.npz", {"classical": _samples([0, 2, 3, 0])})
    current = _write(tmp_path / "new.npz", {"classical": _samples([0, 2, 3, 1])})
    out = tmp_path / "compare.json"
    argv = ["--previous", str(previous), "--current", str(current), "--n-boot", "20"]
    assert bundle_compare.main([*argv, "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["previous"]["models_digest"] == "old" and document["faces"] == 4
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[0].startswith("| Row | Accuracy | Accuracy minus previous | Barsoum |")
    cells = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert cells[:2] == ["Classical", "100.0"] and cells[2].startswith("+25.0 [")
    assert "wrote" in capsys.readouterr().out


def test_results_md_quotes_the_committed_comparison():
    root = Path(__file__).resolve().parents[2]
    table = (root / "benchmarks/results/bundle_compare.md").read_text().strip()
    assert table in (root / "docs/results.md").read_text(), (
        "docs/results.md must quote benchmarks/results/bundle_compare.md as it stands"
    )
