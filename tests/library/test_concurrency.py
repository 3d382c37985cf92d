"""Many users at once: one set of shared models (as st.cache_resource holds them), 8 threads
predicting at the same time with their own seeds; every result equals the same call run alone,
and the shared networks end as they began (eval mode, same weights and buffers)."""

from __future__ import annotations

import threading

import numpy as np
import torch
from helpers.nets import tiny_network

from bnnfer import build_method, mc_predict
from bnnfer.media.predict import predict_faces


def _shared_methods() -> dict:
    dropout = tiny_network("dropout", seed=0)
    dropconnect = tiny_network("dropconnect")
    members = [tiny_network("dropout") for _ in range(3)]
    return {
        "classical": build_method("classical", [dropout]),
        "mc_dropout": build_method("mc_dropout", [dropout]),
        "mc_dropconnect": build_method("mc_dropconnect", [dropconnect]),
        "ensemble": build_method("ensemble", members),
    }


def _run_concurrently(work, arguments: list) -> list:
    results: list = [None] * len(arguments)
    errors: list = []
    barrier = threading.Barrier(len(arguments))

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(arguments[i])
        except Exception as error:  # surfaced below, with the thread's argument
            errors.append((arguments[i], error))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_eight_threads_predicting_at_once_match_solo_calls():
    methods = _shared_methods()
    images = np.random.default_rng(0).integers(0, 256, (10, 48, 48)).astype(np.uint8)
    before = {k: [v.clone() for v in m.state_dict().values()] for k, m in methods.items()}
    jobs = [(key, seed) for seed in (1, 2) for key in methods]  # 8 concurrent calls

    def work(job):
        key, seed = job
        samples = 7 if key.startswith("mc_") else None
        return mc_predict(methods[key], images, samples=samples, seed=seed, batch_size=4)

    concurrent = _run_concurrently(work, jobs)
    for job, result in zip(jobs, concurrent, strict=True):
        torch.testing.assert_close(result, work(job), rtol=0, atol=0, msg=str(job))
    for key, method in methods.items():
        assert not any(m.training for m in method.modules())
        for old, new in zip(before[key], method.state_dict().values(), strict=True):
            assert torch.equal(old, new)


def test_concurrent_photo_predictions_match_solo_calls():
    methods = _shared_methods()
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (n, 48, 48)).astype(np.uint8) for n in (1, 2, 3, 1, 2, 3, 1, 2)]

    def work(faces):
        return predict_faces(methods, faces, samples=5, seed=4)

    concurrent = _run_concurrently(work, crops)
    for faces, result in zip(crops, concurrent, strict=True):
        alone = work(faces)
        for face_now, face_alone in zip(result, alone, strict=True):
            for key in methods:
                np.testing.assert_array_equal(face_now[key].samples, face_alone[key].samples)
