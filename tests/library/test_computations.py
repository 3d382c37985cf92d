"""bnnfer.inference.computations: the shared background computation of a split's predictions. Its
rows equal `mc_predict`'s, the cheapest come first, a computation stopped halfway resumes from its
last finished batch with the same samples, one request runs once however many ask for it, and a
computation nobody touches stops."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bnnfer.inference import computations
from bnnfer.inference.computations import Computation, cost_order, make_request, shared_computation
from bnnfer.inference.mc import mc_predict
from bnnfer.inference.store import find_predictions
from bnnfer.training.bundle import load_bundle

SAMPLES = 4
BATCH = 8  # the tiny valid split keeps 17-24 faces: three batches per row


@pytest.fixture(scope="module")
def methods(tiny_bundle):
    return load_bundle(tiny_bundle[1])


def _request(tiny_bundle, methods, keys=None):
    _, models, splits = tiny_bundle
    return make_request(methods, models, splits["valid"], keys or list(methods), SAMPLES)


def _run(tiny_bundle, methods, cache, keys=None, **kwargs) -> Computation:
    valid = tiny_bundle[2]["valid"]
    request = _request(tiny_bundle, methods, keys)
    computation = Computation(methods, valid, request, cache, batch_size=BATCH, **kwargs)
    computation.start().wait(120)
    return computation


class StopAfter(Computation):
    """A computation cut short after ``limit`` batches, as a closed tab or a kill leaves it."""

    limit = 0

    def _should_stop(self) -> bool:
        return self.batches_computed >= self.limit


def test_rows_equal_mc_predict_and_land_in_the_cache(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    done = _run(tiny_bundle, methods, tmp_path)
    assert done.state == "done" and set(done.finished) == set(methods)
    for key, method in methods.items():
        expected = mc_predict(
            method, valid.images, samples=SAMPLES if method.sampled else None, batch_size=BATCH
        ).numpy()
        # batches are stored in float16, as the cache stores them
        np.testing.assert_allclose(done.finished[key], expected, atol=1e-3, err_msg=key)
    # the deterministic rows shared their networks: the classical network and its temperature
    # copy and the ensemble's first member are one set of weights, run once per batch
    distinct = {
        computations.network_key(n) for m in methods.values() for n in m.networks if not m.sampled
    }
    assert len(done._logits) == len(distinct) * 3
    served = find_predictions(
        make_request(methods, models, valid, None, SAMPLES), valid, cache_dir=tmp_path
    )
    assert served is not None and served.source == "cache"
    assert not (tmp_path / "partial" / done.partial_dir.name / "mc_dropout").exists()


def test_a_head_only_mc_dropout_row_shares_the_classical_trunk(tiny_bundle, monkeypatch, tmp_path):
    """Sampling the head only, MC-Dropout's trunk is every convolution of the classical
    network's weights: the classical pass runs it once per batch for both rows, and the MC row
    draws the very samples it draws alone."""
    from bnnfer.models import engine

    head = load_bundle(tiny_bundle[1], placement="head")
    calls = []  # every pass through the convolutions: a whole network's, or a trunk's
    for name in ("_run_trunk", "deterministic"):
        run = getattr(engine, name)
        monkeypatch.setattr(engine, name, lambda *a, run=run, **k: calls.append(1) or run(*a, **k))
    keys = ["classical", "mc_dropout"]
    shared = _run(tiny_bundle, head, tmp_path / "shared", keys)
    batches = -(-len(tiny_bundle[2]["valid"]) // BATCH)
    assert shared.state == "done" and len(calls) == batches  # one pass a batch, not two
    assert shared._features == {}  # each batch's trunk handed over, and dropped
    alone = _run(tiny_bundle, head, tmp_path / "alone", ["mc_dropout"])
    assert len(calls) == 2 * batches
    np.testing.assert_array_equal(shared.finished["mc_dropout"], alone.finished["mc_dropout"])
    expected = mc_predict(head["classical"], tiny_bundle[2]["valid"].images).numpy()
    np.testing.assert_allclose(shared.finished["classical"], expected, atol=1e-3)


def test_cheapest_rows_first(methods):
    order = cost_order(methods, list(methods))
    kinds = [
        0
        if not methods[k].sampled and methods[k].check_samples(None) == 1
        else 1
        if not methods[k].sampled
        else 2
        for k in order
    ]
    assert kinds == sorted(kinds) and order[0] == "classical" and methods[order[-1]].sampled


def test_stopped_halfway_resumes_from_the_last_batch_with_the_same_samples(
    tiny_bundle, methods, tmp_path
):
    keys = ["classical", "mc_dropout", "mc_dropconnect"]
    whole = _run(tiny_bundle, methods, tmp_path / "whole", keys)
    valid = tiny_bundle[2]["valid"]
    request = _request(tiny_bundle, methods, keys)
    cut = StopAfter(methods, valid, request, tmp_path / "cut", batch_size=BATCH)
    cut.limit = 5  # classical (3 batches) and two of mc_dropout's three
    cut.start().wait(120)
    assert cut.state == "stopped" and set(cut.finished) == {"classical"}
    assert len(valid) > 2 * BATCH and cut.progress["mc_dropout"] == (16, len(valid))
    # a batch being written when the process died leaves a temporary file: it is ignored
    (cut.partial_dir / "mc_dropout" / f"batch-{len(valid):07d}.npzk3x9.tmp").write_bytes(b"cut")

    resumed = Computation(methods, valid, request, tmp_path / "cut", batch_size=BATCH)
    resumed.start().wait(120)
    assert resumed.state == "done"
    # mc_dropout's last batch and mc_dropconnect's three; classical came from the cache
    assert resumed.batches_computed == 1 + 3
    for key in keys:
        np.testing.assert_array_equal(resumed.finished[key], whole.finished[key], err_msg=key)


def test_one_request_is_computed_once_however_many_ask(tiny_bundle, methods, tmp_path):
    valid = tiny_bundle[2]["valid"]
    request = _request(tiny_bundle, methods)
    first = shared_computation(methods, valid, request, tmp_path, batch_size=BATCH)
    second = shared_computation(methods, valid, request, tmp_path, batch_size=BATCH)
    assert first is second
    first.wait(120)
    assert first.state == "done" and first.batches_computed <= 3 * len(methods)
    computations.forget(request, tmp_path)
    third = shared_computation(methods, valid, request, tmp_path, batch_size=BATCH)
    third.wait(120)
    assert third is not first and third.batches_computed == 0  # all served from the cache
    computations.forget(request, tmp_path)


def test_a_computation_nobody_waits_for_stops(tiny_bundle, methods, tmp_path):
    idle = _run(tiny_bundle, methods, tmp_path, ["mc_dropout"], idle_timeout=0.0)
    assert idle.state == "stopped" and idle.batches_computed == 0
    busy = Computation(
        methods,
        tiny_bundle[2]["valid"],
        _request(tiny_bundle, methods, ["mc_dropout"]),
        tmp_path,
        batch_size=BATCH,
        idle_timeout=60.0,
    )
    busy.start()
    for _ in range(100):
        busy.touch()
        if not busy.alive:
            break
        time.sleep(0.05)
    assert busy.state == "done"


def test_bad_requests_are_refused(tiny_bundle, methods, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        _request(tiny_bundle, methods, ["nope"])
    with pytest.raises(ValueError, match="samples must be >= 1"):
        make_request(methods, tiny_bundle[1], tiny_bundle[2]["valid"], ["classical"], 0)
    with pytest.raises(ValueError, match="batch_size"):
        Computation(
            methods, tiny_bundle[2]["valid"], _request(tiny_bundle, methods), tmp_path, batch_size=0
        )


KILLED_RUN = """
import time
from bnnfer.inference import computations
from bnnfer.training.bundle import load_bundle
from bnnfer.inference.computations import Computation, make_request
from bnnfer.data.ferplus import load_ferplus

real = computations.mc_batches

def slow(*args, **kwargs):  # a batch every 0.5 s: time to be killed halfway
    for batch in real(*args, **kwargs):
        time.sleep(0.5)
        yield batch

computations.mc_batches = slow
methods = load_bundle({models!r})
valid = load_ferplus({data!r}, cache_dir=False)["valid"]
request = make_request(methods, {models!r}, valid, ["mc_dropout"], {samples})
Computation(methods, valid, request, {cache!r}, batch_size={batch}).start().wait()
"""


def test_a_killed_process_resumes_from_its_last_batch(tiny_bundle, methods, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    root, models, splits = tiny_bundle
    valid = splits["valid"]
    whole = _run(tiny_bundle, methods, tmp_path / "whole", ["mc_dropout"])
    script = KILLED_RUN.format(
        models=str(models),
        data=str(root),
        samples=SAMPLES,
        cache=str(tmp_path / "killed"),
        batch=BATCH,
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    request = _request(tiny_bundle, methods, ["mc_dropout"])
    folder = tmp_path / "killed" / "partial" / f"{request.tag}-b{BATCH}" / "mc_dropout"
    for _ in range(600):  # until the first batch is on disk
        if list(folder.glob("batch-*.npz")) or process.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    saved = sorted(p.name for p in folder.glob("batch-*.npz"))
    assert 1 <= len(saved) < 3, saved  # killed halfway: some batches done, not all
    resumed = Computation(methods, valid, request, tmp_path / "killed", batch_size=BATCH)
    resumed.start().wait(120)
    assert resumed.state == "done" and resumed.batches_computed == 3 - len(saved)
    np.testing.assert_array_equal(resumed.finished["mc_dropout"], whole.finished["mc_dropout"])
