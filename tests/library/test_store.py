"""bnnfer.inference.store: where a split's predictions come from (the evaluate file, the disk cache,
or fresh inference) and when a file is not trusted (other models, another split, too few samples, a
damaged file)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bnnfer.evaluation.reporting import write_evaluation
from bnnfer.evaluation.runner import evaluate_methods
from bnnfer.inference.computations import make_request
from bnnfer.inference.mc import mc_predict
from bnnfer.inference.store import find_predictions, get_predictions
from bnnfer.training.bundle import load_bundle


@pytest.fixture(scope="module")
def methods(tiny_bundle):
    return load_bundle(tiny_bundle[1])


KEYS = ["classical", "mc_dropout", "ensemble"]


def test_computed_then_served_from_the_cache(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    assert (
        find_predictions(make_request(methods, models, valid, KEYS, 6), valid, cache_dir=tmp_path)
        is None
    )
    steps = []
    first = get_predictions(
        methods,
        valid,
        make_request(methods, models, valid, KEYS, 6),
        cache_dir=tmp_path,
        progress=lambda f, t: steps.append(f),
    )
    assert first.source == "computed" and steps[-1] == 1.0
    # a step before and after each method's batches, in order
    assert steps == sorted(steps) and len(steps) >= 2 * len(KEYS) + 1
    assert first.samples["mc_dropout"].shape == (6, len(valid), 8)
    assert first.samples["classical"].shape == (1, len(valid), 8)
    # the samples are mc_predict's with the default seed
    expected = mc_predict(methods["mc_dropout"], valid.images, samples=6, seed=0).numpy()
    np.testing.assert_allclose(first.samples["mc_dropout"], expected, atol=1e-3)  # fp16 cache

    again = get_predictions(
        methods, valid, make_request(methods, models, valid, KEYS, 6), cache_dir=tmp_path
    )
    assert again.source == "cache"
    np.testing.assert_allclose(again.samples["mc_dropout"], first.samples["mc_dropout"], atol=1e-3)

    fewer = find_predictions(
        make_request(methods, models, valid, ["mc_dropout"], 4), valid, cache_dir=tmp_path
    )
    assert fewer is not None and fewer.samples["mc_dropout"].shape[0] == 4  # a smaller S reuses
    np.testing.assert_array_equal(fewer.samples["mc_dropout"], again.samples["mc_dropout"][:4])
    assert (
        find_predictions(
            make_request(methods, models, valid, ["mc_dropout"], 9), valid, cache_dir=tmp_path
        )
        is None
    )


def test_more_samples_are_computed_and_merged_into_the_cache(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    get_predictions(
        methods, valid, make_request(methods, models, valid, ["mc_dropout"], 3), cache_dir=tmp_path
    )
    get_predictions(
        methods, valid, make_request(methods, models, valid, ["classical"], 8), cache_dir=tmp_path
    )
    # both methods are in the cache now; mc_dropout with its 3 samples
    both = find_predictions(
        make_request(methods, models, valid, ["mc_dropout", "classical"], 3),
        valid,
        cache_dir=tmp_path,
    )
    assert both is not None and both.source == "cache"
    more = get_predictions(
        methods, valid, make_request(methods, models, valid, ["mc_dropout"], 8), cache_dir=tmp_path
    )
    assert more.source == "computed" and more.samples["mc_dropout"].shape[0] == 8


def test_the_evaluate_file_is_preferred_when_it_matches(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    evaluation = evaluate_methods(methods, valid, samples=5, n_boot=5)
    path = write_evaluation(evaluation, tmp_path / "eval", models)["predictions"]
    found = find_predictions(
        make_request(methods, models, valid, KEYS, 5),
        valid,
        evaluation_file=path,
        cache_dir=tmp_path / "cache",
    )
    assert found is not None and found.source == "evaluate file"
    # asked for more samples than the file holds: not served from it
    assert (
        find_predictions(
            make_request(methods, models, valid, KEYS, 7),
            valid,
            evaluation_file=path,
            cache_dir=tmp_path,
        )
        is None
    )
    # the file of another split does not serve this one
    train = splits["train"]
    assert (
        find_predictions(
            make_request(methods, models, train, KEYS, 5),
            train,
            evaluation_file=path,
            cache_dir=tmp_path,
        )
        is None
    )


def test_a_damaged_cache_is_recomputed_and_rewritten(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    get_predictions(
        methods, valid, make_request(methods, models, valid, ["classical"], 2), cache_dir=tmp_path
    )
    (cache,) = tmp_path.glob("predictions-*-valid.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    assert (
        find_predictions(
            make_request(methods, models, valid, ["classical"], 2), valid, cache_dir=tmp_path
        )
        is None
    )
    rebuilt = get_predictions(
        methods, valid, make_request(methods, models, valid, ["classical"], 2), cache_dir=tmp_path
    )
    assert rebuilt.source == "computed"
    again = find_predictions(
        make_request(methods, models, valid, ["classical"], 2), valid, cache_dir=tmp_path
    )
    assert again is not None and again.source == "cache"


def test_a_cache_of_other_models_is_not_used(tiny_bundle, methods, tmp_path):
    # any change to the bundle changes its manifest, hence the digest the cache is keyed by
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    get_predictions(
        methods,
        valid,
        make_request(methods, models, valid, ["classical"], 2),
        cache_dir=tmp_path / "cache",
    )
    changed = tmp_path / "changed"
    shutil.copytree(models, changed)
    (changed / "manifest.json").write_text((models / "manifest.json").read_text() + "\n")
    assert (
        find_predictions(
            make_request(methods, changed, valid, ["classical"], 2),
            valid,
            cache_dir=tmp_path / "cache",
        )
        is None
    )
    assert find_predictions(
        make_request(methods, models, valid, ["classical"], 2), valid, cache_dir=tmp_path / "cache"
    )


def test_unknown_keys_and_bad_samples_are_refused(tiny_bundle, methods, tmp_path):
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    with pytest.raises(ValueError, match=r"unknown method key\(s\) \['nope'\]"):
        make_request(methods, models, valid, ["nope"], 2)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        make_request(methods, models, valid, ["classical"], 0)
    # a request for rows the given methods do not have is refused before any file is read
    request = make_request(methods, models, valid, ["classical", "mc_dropout"], 2)
    fewer = {"classical": methods["classical"]}
    with pytest.raises(ValueError, match=r"rows \['mc_dropout'\] are not among the methods"):
        get_predictions(fewer, valid, request, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    # a request made for one split is not asked of another
    with pytest.raises(ValueError, match="made for other faces than these"):
        find_predictions(request, splits["train"], cache_dir=tmp_path)


def test_each_placement_has_its_own_cache(tiny_bundle, methods, tmp_path):
    """Head-only predictions are cached beside the as-trained ones, never mixed with them."""
    _, models, splits = tiny_bundle
    valid = splits["valid"]
    trained = get_predictions(
        methods, valid, make_request(methods, models, valid, KEYS, 4), cache_dir=tmp_path
    )
    head_methods = load_bundle(models, placement="head")
    head = get_predictions(
        head_methods, valid, make_request(head_methods, models, valid, KEYS, 4), cache_dir=tmp_path
    )
    assert trained.source == head.source == "computed"
    assert sorted(p.name.split("-")[-1] for p in tmp_path.glob("predictions-*.npz")) == [
        "head.npz",
        "valid.npz",
    ]
    again = find_predictions(
        make_request(methods, models, valid, KEYS, 4), valid, cache_dir=tmp_path
    )
    assert again is not None and again.source == "cache"
    fp16 = {"atol": 1e-3}  # the cache stores float16
    np.testing.assert_allclose(again.samples["mc_dropout"], trained.samples["mc_dropout"], **fp16)
    again_head = find_predictions(
        make_request(head_methods, models, valid, KEYS, 4), valid, cache_dir=tmp_path
    )
    np.testing.assert_allclose(again_head.samples["mc_dropout"], head.samples["mc_dropout"], **fp16)
    # the same seed samples different layers: the two really are different predictions
    assert not np.array_equal(head.samples["mc_dropout"], trained.samples["mc_dropout"])
