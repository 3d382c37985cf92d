"""bnnfer.training.cores: the cores a finished training process frees go to those still
training (threads = cores // live, at least one), across real processes, and `fit` takes its
share at every epoch."""

from __future__ import annotations

import json
import multiprocessing

import pytest
import torch

from bnnfer import NetworkConfig, TrainConfig, fit, load_ferplus
from bnnfer.training.cores import SharedCores

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _leave(cores: SharedCores) -> None:
    cores.leave()


@pytest.mark.parametrize(
    ("cores", "live", "threads"),
    [(2, 2, 1), (2, 1, 2), (16, 7, 2), (8, 3, 2), (2, 4, 1), (2, 0, 2)],
)
def test_each_process_gets_its_share_of_the_cores(cores, live, threads):
    assert SharedCores(cores, SPAWN.Value("i", live)).threads() == threads


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="at least one core and one process"):
        SharedCores.for_processes(0, 2, SPAWN)
    with pytest.raises(ValueError, match="at least one core and one process"):
        SharedCores.for_processes(2, 0, SPAWN)


def test_a_process_that_leaves_frees_its_core_for_the_others():
    """The count is shared memory: a spawned process leaving is seen here."""
    cores = SharedCores.for_processes(2, 2, SPAWN)
    assert cores.threads() == 1
    child = SPAWN.Process(target=_leave, args=(cores,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert cores.live.value == 1 and cores.threads() == 2


def test_take_sets_the_threads(restore_threads):
    cores = SharedCores(3, SPAWN.Value("i", 1))
    torch.set_num_threads(1)
    assert cores.take() == 3 and torch.get_num_threads() == 3


def test_fit_takes_its_share_at_every_epoch(fake_ferplus, tmp_path, restore_threads):
    """Each epoch record says the threads it trained with: the share when it started."""
    root, _ = fake_ferplus
    splits = load_ferplus(root, splits=["train", "valid"])
    config = TrainConfig(
        method="mc_dropout",
        network=NetworkConfig(widths=(4, 8), convs_per_stage=1, head_width=8),
        epochs=2,
        batch_size=8,
        augment=False,
    )
    torch.set_num_threads(1)
    cores = SharedCores(3, SPAWN.Value("i", 1))
    weights = fit(config, splits["train"], splits["valid"], tmp_path / "net", cores=cores)
    history = json.loads(weights.with_suffix(".json").read_text())["metadata"]["history"]
    assert [h["threads"] for h in history] == [3, 3]
