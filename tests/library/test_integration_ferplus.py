"""Integration on the real FER+ data: a small network trained for a few hundred steps on a Train
subset beats the class prior clearly on a Valid subset, for each of the four methods.

Runs in about two minutes on 2 CPU cores; needs ../shared/data/ferplus (or $BNNFER_REAL_DATA).
"""

from __future__ import annotations

import numpy as np
import pytest

from bnnfer import NetworkConfig, TrainConfig, fit, load_ferplus, load_method, mc_predict
from bnnfer.evaluation import metrics
from bnnfer.training.train import class_prior_accuracy

pytestmark = [pytest.mark.slow, pytest.mark.ferplus]

SMALL = NetworkConfig(
    widths=(16, 32, 64, 128), convs_per_stage=1, head_width=64, block_rate=0.1, head_rate=0.3
)
MARGIN = 0.08  # "clearly above": at least 8 accuracy points over always answering the top class


@pytest.fixture(autouse=True, scope="module")
def _all_cores():
    """Training wants every core this process may use (the suite runs tiny tests on one
    thread; under xdist, the worker's share: helpers/cores.py)."""
    import torch
    from helpers.cores import worker_cores

    before = torch.get_num_threads()
    torch.set_num_threads(worker_cores())
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def subsets(request):
    from conftest import real_data_dir

    root = real_data_dir()
    if root is None:
        pytest.skip("the real FER+ data is not present (../shared/data/ferplus)")
    splits = load_ferplus(root, splits=["train", "valid"])
    rng = np.random.default_rng(0)
    train = splits["train"].subset(rng.permutation(len(splits["train"]))[:8000])
    valid = splits["valid"].subset(rng.permutation(len(splits["valid"]))[:1000])
    return train, valid


@pytest.fixture(scope="module")
def checkpoints(subsets, tmp_path_factory):
    train, valid = subsets
    out = tmp_path_factory.mktemp("integration")
    made = {}
    for method in ("mc_dropout", "mc_dropconnect", "ensemble"):
        config = TrainConfig(
            method=method,
            network=SMALL,
            members=2,
            epochs=3,
            max_steps=300,
            batch_size=64,
            lr=3e-3,
            augment=False,
        )
        made[method] = fit(config, train, valid, out / method)
    return made


@pytest.mark.parametrize(
    ("method", "checkpoint"),
    [
        ("classical", "mc_dropout"),
        ("mc_dropout", "mc_dropout"),
        ("mc_dropconnect", "mc_dropconnect"),
        ("ensemble", "ensemble"),
    ],
)
def test_each_method_beats_the_class_prior_clearly(subsets, checkpoints, method, checkpoint):
    _, valid = subsets
    model = load_method(checkpoints[checkpoint], method)
    samples = mc_predict(model, valid.images, samples=10 if method.startswith("mc_") else None)
    probs = samples.numpy().mean(axis=0)
    accuracy = metrics.accuracy(probs, valid.labels)
    prior = class_prior_accuracy(valid)
    print(f"{method}: Valid-subset accuracy {accuracy:.3f} vs class prior {prior:.3f}")
    assert accuracy >= prior + MARGIN
    # and the MC methods are really stochastic, the deterministic ones are not
    spread = float((samples - samples.mean(dim=0)).abs().max())
    assert (spread > 1e-4) == (method != "classical")
