"""bnnfer.training.train on synthetic faces: fit writes a loadable checkpoint for each method, keeps
the best Valid epoch, logs every epoch, and refuses bad configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bnnfer import FaceCNN, NetworkConfig, TrainConfig, fit, load_ferplus, load_method, mc_predict
from bnnfer.inference.mc import resolve_precision
from bnnfer.training.train import soft_cross_entropy

TINY = NetworkConfig(widths=(4, 8), convs_per_stage=1, head_width=8)


@pytest.fixture
def splits(fake_ferplus):
    root, _ = fake_ferplus
    return load_ferplus(root, splits=["train", "valid"])


@pytest.mark.parametrize(
    ("method", "served", "members"),
    [
        ("mc_dropout", ["classical", "mc_dropout"], 1),
        ("classical", ["classical", "mc_dropout"], 1),
        ("mc_dropconnect", ["mc_dropconnect"], 1),
        ("ensemble", ["ensemble"], 2),
    ],
)
def test_fit_writes_a_checkpoint_that_serves_its_methods(splits, tmp_path, method, served, members):
    config = TrainConfig(method=method, network=TINY, members=2, epochs=2, batch_size=8)
    weights = fit(config, splits["train"], splits["valid"], tmp_path / method)
    document = json.loads(weights.with_suffix(".json").read_text())
    assert document["methods"] == served
    assert document["members"] == members
    assert document["metadata"]["train"]["method"] == method
    # precision "auto" is recorded as what it ran as on this machine, run and epochs alike
    device = torch.device(document["metadata"]["device"])
    ran_as = resolve_precision("auto", device)
    assert document["metadata"]["precision"] == ran_as
    log = [json.loads(line) for line in (tmp_path / f"{method}.log.jsonl").read_text().splitlines()]
    assert len(log) == 2 * members
    assert {record["precision"] for record in log} == {ran_as}
    # the run's seconds are its epochs' training and Valid passes
    spent = sum(record["seconds"] + record["valid_seconds"] for record in log)
    assert document["metadata"]["training_seconds"] == pytest.approx(spent, abs=0.051)
    assert {"train_loss", "valid_accuracy", "valid_nll", "images_per_s"} <= set(log[0])
    for name in served:
        model = load_method(weights, name)
        probs = mc_predict(
            model, splits["valid"].images, samples=None if name != "mc_dropout" else 3
        )
        assert probs.shape[1:] == (len(splits["valid"]), 8)
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2]))


def test_best_epoch_on_valid_is_kept(splits, tmp_path):
    config = TrainConfig(method="mc_dropout", network=TINY, epochs=3, batch_size=8, lr=0.05)
    weights = fit(config, splits["train"], splits["valid"], tmp_path / "net")
    metadata = json.loads(weights.with_suffix(".json").read_text())["metadata"]
    history = metadata["history"]
    best = max(history, key=lambda h: (h["valid_accuracy"], -h["epoch"]))
    assert metadata["best_epochs"] == [best["epoch"]]
    assert metadata["valid_accuracy"] == [best["valid_accuracy"]]
    # the saved weights reproduce the best epoch's Valid accuracy
    model = load_method(weights, "classical")
    probs = mc_predict(model, splits["valid"].images)[0].numpy()
    accuracy = float(np.mean(probs.argmax(1) == splits["valid"].labels))
    assert accuracy == pytest.approx(best["valid_accuracy"])


def test_max_steps_caps_training_and_seed_makes_it_reproducible(splits, tmp_path):
    config = TrainConfig(method="mc_dropout", network=TINY, epochs=5, max_steps=3, batch_size=8)
    a = fit(config, splits["train"], None, tmp_path / "a")
    b = fit(config, splits["train"], None, tmp_path / "b")
    history = json.loads(a.with_suffix(".json").read_text())["metadata"]["history"]
    assert [h["step"] for h in history] == [3]
    images = splits["valid"].images
    torch.testing.assert_close(
        mc_predict(load_method(a, "classical"), images),
        mc_predict(load_method(b, "classical"), images),
    )


def test_stems_with_dots_keep_them(splits, tmp_path):
    """Two runs named net_aug0.5 and net_aug0.7 write files of their own: a stem's dots are
    not a suffix to replace (they once both became net_aug0.*, the second overwriting)."""
    config = TrainConfig(method="mc_dropout", network=TINY, epochs=1, max_steps=1, batch_size=8)
    runs = tmp_path / "runs"
    for stem in ("net_aug0.5", "net_aug0.7"):
        weights = fit(config, splits["train"], None, runs / stem, resume=True)
        assert weights == runs / f"{stem}.safetensors"
        assert load_method(runs / stem, "classical") is not None
    written = sorted(p.name for p in runs.iterdir())
    assert written == [
        f"net_aug0.{k}{suffix}"
        for k in (5, 7)
        for suffix in (".json", ".log.jsonl", ".safetensors", ".state")
    ]


def test_soft_cross_entropy_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    target = torch.tensor([[0.5, 0.5, 0.0]])
    expected = -(0.5 * np.log(0.5) + 0.5 * np.log(0.25))
    assert soft_cross_entropy(logits, target).item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "bayes"}, "method must be one of"),
        ({"target": "hard"}, "target must be one of"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"method": "ensemble", "members": 1}, "an ensemble needs members >= 2"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"lr": 0.0}, "need lr > 0"),
        ({"optimizer": "adam"}, "optimizer must be"),
        ({"schedule": "step"}, "schedule must be"),
        ({"augment_strength": -0.5}, r"augment_strength must be in \[0, 3\]"),
        ({"augment_strength": 4.0}, r"augment_strength must be in \[0, 3\]"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
        ({"label_smoothing": -0.1}, r"label_smoothing must be in \[0, 1\)"),
        ({"mixup": -1.0}, "mixup must be >= 0 and finite"),
        ({"ema": 1.0}, r"ema must be in \[0, 1\)"),
        ({"swa_epochs": -1}, "need swa_epochs >= 0 and swa_lr > 0"),
        ({"swa_epochs": 2, "swa_lr": 0.0}, "need swa_epochs >= 0 and swa_lr > 0"),
        ({"swa_epochs": 2, "ema": 0.9}, "ema and swa_epochs are two weight averages"),
        ({"mixup": float("nan")}, "mixup must be >= 0 and finite"),
    ],
)
def test_bad_train_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    ("name", "default", "other"),
    [
        ("augment_strength", 1.0, 2.0),
        ("label_smoothing", 0.0, 0.1),
        ("mixup", 0.0, 0.2),
        ("ema", 0.0, 0.99),
        ("swa_epochs", 0, 4),
        ("swa_lr", 3e-4, 1e-3),
    ],
)
def test_a_later_field_is_recorded_only_away_from_its_default(name, default, other):
    """Checkpoints trained before a later field existed record no such key: a config at its
    default must still equal theirs (bundle.job_finished, resuming), another must not."""
    plain = TrainConfig()
    assert name not in plain.to_dict()
    earlier = plain.to_dict()  # what a run before the field existed recorded
    assert TrainConfig(**{name: default}).to_dict() == earlier
    changed = TrainConfig(**{name: other})
    assert changed.to_dict()[name] == other
    assert changed.resume_key() != plain.resume_key()


@pytest.mark.parametrize("option", [{"label_smoothing": 0.3}, {"mixup": 0.4}])
def test_smoothing_and_mixup_change_what_is_trained(splits, tmp_path, option):
    """Each option reaches the loss: the first step's loss differs from the plain run's, and
    the checkpoint records the option."""
    base = {"network": TINY, "epochs": 1, "max_steps": 1, "batch_size": 8, "augment": False}
    losses = []
    for name, extra in (("plain", {}), ("option", option)):
        weights = fit(TrainConfig(**base, **extra), splits["train"], None, tmp_path / name)
        metadata = json.loads(weights.with_suffix(".json").read_text())["metadata"]
        losses.append(metadata["history"][0]["train_loss"])
    assert losses[0] != pytest.approx(losses[1], abs=1e-4)
    assert metadata["train"].items() >= option.items()


def test_ema_keeps_and_scores_the_moving_average(splits, tmp_path):
    """With ema, Valid scores the average and the checkpoint holds it: the same seed's steps,
    averaged, give other weights than the last step's, and the recorded Valid accuracy is the
    kept weights' own."""
    base = {"network": TINY, "epochs": 2, "batch_size": 8, "augment": False, "lr": 0.05}
    plain = fit(TrainConfig(**base), splits["train"], splits["valid"], tmp_path / "plain")
    averaged = fit(TrainConfig(**base, ema=0.5), splits["train"], splits["valid"], tmp_path / "ema")
    from safetensors.torch import load_file

    a, b = load_file(plain), load_file(averaged)
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.endswith("weight"))
    metadata = json.loads(averaged.with_suffix(".json").read_text())["metadata"]
    probs = mc_predict(load_method(averaged, "classical"), splits["valid"].images)[0].numpy()
    labels = splits["valid"].labels
    assert metadata["valid_accuracy"][0] == pytest.approx((probs.argmax(1) == labels).mean())


def test_swa_keeps_the_equal_average_of_its_epochs(splits, tmp_path, monkeypatch):
    """Two SWA epochs after the schedule: they run at swa_lr, and the kept weights are the plain
    mean of the network's weights at the end of each (read from the per-epoch training state),
    with BatchNorm statistics of their own rather than the last network's."""
    from safetensors.torch import load_file

    from bnnfer.training.trainstate import load_state

    config = TrainConfig(
        network=TINY, epochs=2, swa_epochs=2, swa_lr=0.01, batch_size=8, augment=False, lr=0.05
    )
    stem = tmp_path / "swa"
    from bnnfer.training import train as train_module

    def save_then_stop(stem_, state, key_):
        train_module_save(stem_, state, key_)
        if state.epoch == 3:  # killed right after the first SWA epoch was saved
            raise _Interrupt

    train_module_save = train_module.save_state
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "save_state", save_then_stop)
        with pytest.raises(_Interrupt):
            fit(config, splits["train"], None, stem)
    key = config.resume_key()
    first = load_state(tmp_path / "swa.state" / "member0.last", key)
    assert first is not None and first.epoch == 3
    weights = fit(config, splits["train"], None, stem, resume=True)
    second = load_state(tmp_path / "swa.state" / "member0.done", key)
    assert second is not None and second.epoch == 4

    kept = {k.removeprefix("member0."): v for k, v in load_file(weights).items()}
    assert kept.keys() == second.model.keys()
    statistics = [k for k in kept if k.endswith(("running_mean", "running_var"))]
    parameters = [k for k in kept if k not in statistics and not k.endswith("batches_tracked")]
    for name in parameters:
        mean = (first.model[name] + second.model[name]) / 2
        torch.testing.assert_close(kept[name], mean, msg=name)
    assert statistics
    assert all(not torch.equal(kept[k], second.model[k]) for k in statistics)
    history = json.loads(weights.with_suffix(".json").read_text())["metadata"]["history"]
    assert [h["lr"] for h in history[2:]] == [0.01, 0.01]
    assert history[1]["lr"] != 0.01


def test_recompute_batchnorm_gives_the_mean_batch_statistics():
    """The first BatchNorm's running statistics after one pass are, per channel, the mean over
    the batches of the batch mean and of the unbiased batch variance of the convolution before
    it (computed here by hand); the network's mode and momenta are left as found."""
    from torch import nn

    from bnnfer.training.train import recompute_batchnorm

    torch.manual_seed(0)
    network = FaceCNN(TINY).eval()
    faces = torch.randn(24, 1, 48, 48)
    batches = [(faces[i : i + 8], torch.zeros(8, 8)) for i in range(0, 24, 8)]
    recompute_batchnorm(network, batches, torch.device("cpu"))

    normalize, conv, norm = network.layers[:3]
    assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
    with torch.no_grad():
        outputs = [conv(normalize(images)) for images, _ in batches]  # each (8, C, 48, 48)
    means = torch.stack([o.mean(dim=(0, 2, 3)) for o in outputs]).mean(0)
    variances = torch.stack([o.transpose(0, 1).flatten(1).var(1) for o in outputs]).mean(0)
    torch.testing.assert_close(norm.running_mean, means, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var, variances, rtol=1e-5, atol=1e-6)
    assert not network.training and norm.momentum == 0.1


def test_too_few_faces_for_one_batch_is_a_clear_error(splits, tmp_path):
    config = TrainConfig(network=TINY, batch_size=1000)
    with pytest.raises(ValueError, match="do not fill one batch of 1000"):
        fit(config, splits["train"], None, tmp_path / "x")


class _Interrupt(Exception):
    pass


def _interrupt_at_evaluation(monkeypatch, after: int) -> None:
    """Make the (after+1)-th Valid evaluation raise, as if the run were killed mid-training."""
    from bnnfer.training import train as train_module

    real = train_module.evaluate_network
    calls = {"n": 0}

    def flaky(network, split, batch_size=512):
        calls["n"] += 1
        if calls["n"] > after:
            raise _Interrupt
        return real(network, split, batch_size)

    monkeypatch.setattr(train_module, "evaluate_network", flaky)


@pytest.mark.parametrize(
    ("method", "interrupt_after", "extra"),
    [
        ("mc_dropout", 1, {}),
        ("ensemble", 3, {}),
        ("mc_dropout", 1, {"mixup": 0.4, "label_smoothing": 0.1, "ema": 0.9}),
        ("mc_dropout", 4, {"swa_epochs": 2}),
    ],
)
def test_resume_equals_an_uninterrupted_run(
    splits, tmp_path, monkeypatch, method, interrupt_after, extra
):
    """Stopped after an epoch (for the ensemble: in its second member), then resumed, a run
    ends with exactly the weights and history of one that was never stopped. Augmentation,
    PLD targets and mixup make sure every random generator is restored."""
    config = TrainConfig(
        method=method,
        network=TINY,
        members=2,
        epochs=3,
        batch_size=8,
        target="pld",
        augment=True,
        **extra,
    )
    whole = fit(config, splits["train"], splits["valid"], tmp_path / "whole")

    with monkeypatch.context() as patch:
        _interrupt_at_evaluation(patch, after=interrupt_after)
        with pytest.raises(_Interrupt):
            fit(config, splits["train"], splits["valid"], tmp_path / "split")
    assert list((tmp_path / "split.state").iterdir())
    resumed = fit(config, splits["train"], splits["valid"], tmp_path / "split", resume=True)

    from safetensors.torch import load_file

    a, b = load_file(whole), load_file(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    history = lambda p: [  # noqa: E731
        {k: v for k, v in h.items() if k not in ("seconds", "valid_seconds", "images_per_s")}
        for h in json.loads(p.with_suffix(".json").read_text())["metadata"]["history"]
    ]
    assert history(whole) == history(resumed)
    log = (tmp_path / "split.log.jsonl").read_text().splitlines()
    assert len(log) == (3 + config.swa_epochs) * config.network_count


def test_a_run_resumed_in_another_precision_says_so_and_counts_every_piece(
    splits, tmp_path, monkeypatch
):
    """soft_member1 of the 60-epoch bundle began in bf16 on one CPU and went on in fp32 where
    `auto` picks fp32: the checkpoint says "mixed", each epoch its own precision, and its
    training seconds add up both pieces, not only the last process's."""
    from bnnfer.training import train as train_module

    config = TrainConfig(method="classical", network=TINY, epochs=3, batch_size=8)
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "autocast_dtype", lambda precision, device: torch.bfloat16)
        _interrupt_at_evaluation(patch, after=1)
        with pytest.raises(_Interrupt):
            fit(config, splits["train"], splits["valid"], tmp_path / "run")
    monkeypatch.setattr(train_module, "autocast_dtype", lambda precision, device: None)
    weights = fit(config, splits["train"], splits["valid"], tmp_path / "run", resume=True)

    metadata = json.loads(weights.with_suffix(".json").read_text())["metadata"]
    assert [h["precision"] for h in metadata["history"]] == ["bf16", "fp32", "fp32"]
    assert metadata["precision"] == "mixed"
    spent = sum(h["seconds"] + h["valid_seconds"] for h in metadata["history"])
    assert metadata["training_seconds"] == pytest.approx(spent, abs=0.051)


def test_resume_refuses_a_state_from_another_config(splits, tmp_path, monkeypatch):
    config = TrainConfig(method="mc_dropout", network=TINY, epochs=2, batch_size=8)
    with monkeypatch.context() as patch:
        _interrupt_at_evaluation(patch, after=1)
        with pytest.raises(_Interrupt):
            fit(config, splits["train"], splits["valid"], tmp_path / "run")
    other = TrainConfig(method="mc_dropout", network=TINY, epochs=2, batch_size=8, lr=0.1)
    with pytest.raises(ValueError, match=r"different config: lr \(saved 0\.002, now 0\.1\)"):
        fit(other, splits["train"], splits["valid"], tmp_path / "run", resume=True)
