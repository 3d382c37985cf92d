"""bnnfer.training.distill and distillation through fit and `bnnfer train --teacher`: the teacher's
targets are its members' mean softmax (checked by hand), the dataset teaches them in place of the
votes, and every mismatch (unknown row, shape, target, config without its teacher) is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from library.test_train import TINY

from bnnfer import TrainConfig, fit
from bnnfer.cli import main
from bnnfer.data.targets import FerPlusTargets
from bnnfer.data.transforms import to_input
from bnnfer.evaluation.predictions import models_digest
from bnnfer.training.bundle import load_bundle
from bnnfer.training.distill import Teacher, teacher_distribution


@pytest.fixture(scope="module")
def ensemble(tiny_bundle):
    return load_bundle(tiny_bundle[1], rows=["ensemble", "classical"])


def test_the_teacher_is_its_members_mean_softmax(tiny_bundle, ensemble):
    _, models, splits = tiny_bundle
    train = splits["train"]
    teacher = teacher_distribution("ensemble", ensemble, train, models_digest(models))
    networks = ensemble["ensemble"].networks
    with torch.no_grad():  # by hand: each member's softmax, averaged over the members
        faces = to_input(train.images)
        expected = torch.stack([torch.softmax(n(faces), dim=1) for n in networks]).mean(0)
    assert teacher.distribution.shape == (len(train), 8)
    assert teacher.distribution.dtype == np.float32 and teacher.samples == len(networks)
    np.testing.assert_allclose(teacher.distribution, expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(teacher.distribution.sum(axis=1), 1.0, atol=1e-5)
    assert teacher.describe() == {
        "row": "ensemble",
        "models_digest": models_digest(models),
        "samples": len(networks),
    }


def test_an_unknown_teacher_row_is_refused(tiny_bundle, ensemble):
    splits = tiny_bundle[2]
    with pytest.raises(ValueError, match="teacher row 'mc_dropout' is not among the loaded rows"):
        teacher_distribution("mc_dropout", ensemble, splits["train"], "digest")


def test_the_dataset_teaches_a_given_distribution_in_place_of_the_votes(tiny_bundle):
    train = tiny_bundle[2]["train"]
    given = np.random.default_rng(0).dirichlet(np.ones(8), size=len(train)).astype(np.float32)
    soft = FerPlusTargets(train, "soft", distribution=given)
    np.testing.assert_allclose(soft[3][1].numpy(), given[3])
    # pld draws its one-hot label from the given distribution: a one-hot teacher is drawn back
    one_hot = np.eye(8, dtype=np.float32)[np.arange(len(train)) % 8]
    pld = FerPlusTargets(train, "pld", distribution=one_hot)
    assert [int(pld[i][1].argmax()) for i in range(8)] == list(range(8))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[:-1], r"distribution must be \((\d+), 8\), got \((?!\1)\d+, 8\)"),
        (lambda d: -d, "negative or non-finite"),
        (lambda d: d * 2, "each row of distribution must sum to 1"),
    ],
)
def test_a_bad_distribution_is_refused(tiny_bundle, change, message):
    train = tiny_bundle[2]["train"]
    uniform = np.full((len(train), 8), 1 / 8, np.float32)
    with pytest.raises(ValueError, match=message):
        FerPlusTargets(train, "soft", distribution=change(uniform))


def test_a_distribution_is_not_taught_as_a_majority_label(tiny_bundle):
    train = tiny_bundle[2]["train"]
    uniform = np.full((len(train), 8), 1 / 8, np.float32)
    with pytest.raises(ValueError, match="taught by target 'soft' or 'pld' only"):
        FerPlusTargets(train, "majority", distribution=uniform)
    with pytest.raises(ValueError, match="a teacher is taught by target 'soft' or 'pld'"):
        TrainConfig(teacher="ensemble", target="majority")


def test_fit_needs_the_teacher_its_config_names(tiny_bundle, tmp_path):
    train = tiny_bundle[2]["train"]
    uniform = np.full((len(train), 8), 1 / 8, np.float32)
    plain = TrainConfig(network=TINY, epochs=1, max_steps=1, batch_size=8)
    named = TrainConfig(network=TINY, epochs=1, max_steps=1, batch_size=8, teacher="ensemble")
    with pytest.raises(ValueError, match="go together"):
        fit(named, train, None, tmp_path / "a")
    with pytest.raises(ValueError, match="go together"):
        fit(plain, train, None, tmp_path / "b", teacher=Teacher("ensemble", "d", 2, uniform))
    with pytest.raises(ValueError, match=r"config\.teacher is 'ensemble' but the teacher is 'x'"):
        fit(named, train, None, tmp_path / "c", teacher=Teacher("x", "d", 2, uniform))
    assert not list(tmp_path.iterdir())


def test_a_uniform_teacher_is_what_is_trained(tiny_bundle, tmp_path):
    """The teacher reaches the loss: a uniform teacher's loss is log 8 + KL(uniform || q), never
    below log 8, and differs from the votes'; the checkpoint records the teacher."""
    train = tiny_bundle[2]["train"]
    uniform = Teacher("ensemble", "digest", 2, np.full((len(train), 8), 1 / 8, np.float32))
    base = {"network": TINY, "epochs": 1, "max_steps": 1, "batch_size": 8, "augment": False}
    votes = fit(TrainConfig(**base), train, None, tmp_path / "votes")
    taught = fit(
        TrainConfig(**base, teacher="ensemble"), train, None, tmp_path / "t", teacher=uniform
    )
    first = [json.loads(w.with_suffix(".json").read_text())["metadata"] for w in (votes, taught)]
    losses = [m["history"][0]["train_loss"] for m in first]
    assert losses[1] != pytest.approx(losses[0], abs=1e-4)
    assert losses[1] >= np.log(8) - 1e-5  # -mean log q = log 8 + KL(uniform || q) >= log 8
    assert first[1]["teacher"] == uniform.describe() and first[1]["train"]["teacher"] == "ensemble"
    assert "teacher" not in first[0] and "teacher" not in first[0]["train"]


def test_train_teacher_option_distils_a_bundle_row(tiny_bundle, tmp_path, capsys):
    root, models, _ = tiny_bundle
    argv = [
        "train", "--data", str(root), "--out", str(tmp_path / "student"),
        "--method", "classical", "--teacher", "ensemble", "--teacher-models", str(models),
        "--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--widths", "4", "8",
        "--convs-per-stage", "1", "--head-width", "8", "--precision", "fp32",
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    assert "teaching ensemble's distributions" in capsys.readouterr().out
    metadata = json.loads((tmp_path / "student.json").read_text())["metadata"]
    assert metadata["teacher"]["row"] == "ensemble"
    assert metadata["teacher"]["models_digest"] == models_digest(models)
    assert main([*argv[:7], "--teacher", "nope", *argv[9:]]) != 0
    assert "unknown row(s) ['nope']" in capsys.readouterr().err


def test_a_resume_of_another_config_is_refused_before_the_teacher_runs(
    tiny_bundle, tmp_path, capsys, monkeypatch
):
    """The teacher's predictions on every training face take many minutes on the real data: a
    state that cannot be resumed is refused before they are spent, naming what differs."""
    root, models, _ = tiny_bundle
    state = tmp_path / "student.state"
    state.mkdir()
    config = TrainConfig(method="classical", network=TINY, teacher="ensemble", precision="fp32")
    (state / "member0.last.json").write_text(json.dumps({"config": config.resume_key()}))
    taught = []
    monkeypatch.setattr("bnnfer.cli.teacher_distribution", lambda *a: taught.append(a))
    argv = [
        "train", "--data", str(root), "--out", str(tmp_path / "student"), "--resume",
        "--method", "classical", "--teacher", "ensemble", "--teacher-models", str(models),
        "--widths", "4", "8", "--convs-per-stage", "1", "--head-width", "8",
    ]  # fmt: skip  # options beside their values
    assert main(argv) != 0
    error = capsys.readouterr().err
    assert "precision (saved 'fp32', now 'auto')" in error and not taught
