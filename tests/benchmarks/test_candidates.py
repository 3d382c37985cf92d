"""benchmarks/candidates.py: its figures on hand-made votes (both accuracy protocols and their
paired differences, worked out by hand), the epoch curve read from a checkpoint's history, and
the whole script on the tiny bundle, where a candidate compared with its own predictions must
differ from them by nothing."""

from __future__ import annotations

import json
from pathlib import Path

import candidates
import numpy as np
import pytest

from bnnfer import build_method
from bnnfer.inference.mc import mc_predict
from bnnfer.models.checkpoints import load_networks

# 8 emotion columns, then unknown and NF
VOTES = np.array(
    [
        [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],  # plurality 0; Barsoum keeps it (8 > 5), label 0
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # plurality 0 (tie to the lower index); Barsoum drops it
        [0, 0, 6, 4, 0, 0, 0, 0, 0, 0],  # plurality 2; kept (6 > 5), label 2
        [0, 0, 0, 9, 1, 0, 0, 0, 0, 0],  # plurality 3; the single vote is dropped, kept, label 3
    ]
)


def _one_hot(classes: list[int]) -> np.ndarray:
    """``(N, 8)`` distributions sure of ``classes``, with a little mass elsewhere."""
    probs = np.full((len(classes), 8), 0.01)
    probs[np.arange(len(classes)), classes] = 0.93
    return probs


def test_row_scores_match_the_hand_counts():
    candidate, bundled = _one_hot([0, 1, 2, 0]), _one_hot([0, 0, 2, 3])
    scores = candidates.row_scores(candidate, VOTES, bundled, n_boot=50)
    assert scores["accuracy"][0] == pytest.approx(2 / 4)  # faces 0 and 2
    assert scores["accuracy_majority"][0] == pytest.approx(2 / 3)  # of the kept 0, 2, 3
    assert scores["accuracy_minus_bundled"][0] == pytest.approx(2 / 4 - 1)
    assert scores["accuracy_majority_minus_bundled"][0] == pytest.approx(2 / 3 - 1)
    for name, (point, low, high) in scores.items():
        assert low <= point + 1e-12 and point <= high + 1e-12, name


def test_a_row_against_itself_differs_by_nothing():
    probs = _one_hot([0, 1, 2, 3])
    scores = candidates.row_scores(probs, VOTES, probs, n_boot=30)
    for name in ("accuracy", "accuracy_majority", "jsd", "human_ece"):
        assert scores[f"{name}_minus_bundled"] == [0.0, 0.0, 0.0]


def test_epochs_reads_the_first_networks_valid_curve():
    document = {
        "metadata": {
            "history": [
                {"member": 0, "epoch": 1, "valid_accuracy": 0.5},
                {"member": 1, "epoch": 1, "valid_accuracy": 0.4},
                {"member": 0, "epoch": 2, "valid_accuracy": 0.6},
            ]
        }
    }
    assert candidates.epochs(document) == [
        {"epoch": 1, "valid_accuracy": 0.5},
        {"epoch": 2, "valid_accuracy": 0.6},
    ]
    assert candidates.epochs({}) == []


def _own_predictions(path: Path, valid, row: str, method: str, nets: list) -> Path:
    """A predictions file at ``path`` holding ``nets``' own samples as the bundled ``row``."""
    own = mc_predict(build_method(method, nets).eval(), valid.images, precision="fp32")
    np.savez(
        path,
        meta=json.dumps({"split": "valid", "models_digest": "tiny"}),
        names=valid.names,
        votes=valid.votes,
        **{f"{row}.samples": own.numpy()},
    )
    return path


def test_the_script_scores_a_candidate_against_its_own_predictions(tiny_bundle, tmp_path):
    root, models, splits = tiny_bundle
    nets, _ = load_networks(models / "soft")
    predictions = _own_predictions(
        tmp_path / "predictions-valid.npz", splits["valid"], "classical_soft", "classical", nets
    )
    out = tmp_path / "candidates.json"
    argv = ["--data", str(root), "--candidate", str(models / "soft"), "--evaluation"]
    argv += [str(predictions), "--against", "classical_soft", "--n-boot", "20", "--out", str(out)]
    assert candidates.main(argv) == 0
    row = json.loads(out.read_text())["candidates"]["soft"]["rows"]["classical_soft"]
    assert row["method"] == "classical"
    assert row["accuracy_minus_bundled"] == [0.0, 0.0, 0.0]
    assert row["jsd_minus_bundled"][0] == pytest.approx(0.0, abs=1e-6)


def test_row_equals_method_sets_a_single_pass_beside_another_row(tiny_bundle, tmp_path, capsys):
    """ensemble=classical scores the candidate's deterministic pass against the bundled
    ensemble: against its own pass stored under that row's name, they differ by nothing."""
    root, models, splits = tiny_bundle
    nets, _ = load_networks(models / "soft")
    predictions = _own_predictions(
        tmp_path / "predictions-valid.npz", splits["valid"], "ensemble", "classical", nets
    )
    out = tmp_path / "candidates.json"
    argv = ["--data", str(root), "--candidate", str(models / "soft"), "--evaluation"]
    argv += [str(predictions), "--against", "ensemble=classical", "--n-boot", "20"]
    assert candidates.main([*argv, "--out", str(out)]) == 0
    row = json.loads(out.read_text())["candidates"]["soft"]["rows"]["ensemble=classical"]
    assert row["method"] == "classical" and row["accuracy_minus_bundled"] == [0.0, 0.0, 0.0]
    for bad, message in (("nope=classical", "unknown bundled row 'nope'"),
                         ("ensemble=bayes", "unknown method 'bayes'")):  # fmt: skip
        with pytest.raises(SystemExit):
            candidates.main([*argv[:6], "--against", bad, "--out", str(out)])
        assert message in capsys.readouterr().err


def test_the_script_refuses_a_row_the_checkpoint_cannot_serve(tiny_bundle, tmp_path):
    root, models, _ = tiny_bundle
    argv = ["--data", str(root), "--candidate", str(models / "soft"), "--against", "ensemble"]
    with pytest.raises(SystemExit, match="does not serve ensemble"):
        candidates.main([*argv, "--out", str(tmp_path / "c.json")])


def test_stems_joined_by_plus_are_scored_as_one_ensemble(tiny_bundle, tmp_path):
    root, models, splits = tiny_bundle
    stems = [models / "runs" / "dropout", models / "runs" / "member1"]
    nets = [net for stem in stems for net in load_networks(stem)[0]]
    predictions = _own_predictions(
        tmp_path / "predictions-valid.npz", splits["valid"], "ensemble", "ensemble", nets
    )
    out = tmp_path / "candidates.json"
    spec = "+".join(str(stem) for stem in stems)
    argv = ["--data", str(root), "--candidate", spec, "--evaluation", str(predictions)]
    argv += ["--against", "ensemble", "--n-boot", "20", "--out", str(out)]
    assert candidates.main(argv) == 0
    entry = json.loads(out.read_text())["candidates"]["dropout+member1"]
    assert [t["seed"] for t in entry["train"]] == [0, 1]  # each part's training config
    assert entry["rows"]["ensemble"]["accuracy_minus_bundled"] == [0.0, 0.0, 0.0]
    with pytest.raises(SystemExit, match="does not serve classical"):
        candidates.main([*argv[:4], "--against", "classical_soft", "--out", str(out)])


def test_an_ensemble_of_two_architectures_is_refused(tiny_bundle, tmp_path):
    from bnnfer import NetworkConfig
    from bnnfer.models.checkpoints import save_checkpoint
    from bnnfer.models.networks import FaceCNN

    _, models, _ = tiny_bundle
    other = tmp_path / "wider"
    network = FaceCNN(NetworkConfig(widths=(6, 8), convs_per_stage=1, head_width=8))
    save_checkpoint(other, [network], ["classical", "mc_dropout"])
    with pytest.raises(SystemExit, match="must share one architecture"):
        candidates.load_candidate(f"{models / 'runs' / 'dropout'}+{other}")
