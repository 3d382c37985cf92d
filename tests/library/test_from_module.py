"""`from_module`: any torch module as a bnnfer method, with the bundled methods' (S, B, C)
output, `mc_predict` support, dropout sampled from the call's generator (never by training mode)
and clear errors for what it cannot wrap."""

from __future__ import annotations

import copy
import re
import threading

import numpy as np
import pytest
import torch
from torch import nn

from bnnfer import from_module, mc_predict
from bnnfer.models.methods import placements

C = 8


def tiny(seed: int = 0, p: float = 0.5, out: int = C) -> nn.Module:
    """Flatten, 16 hidden units, dropout, ``out`` logits; in eval mode. The weights are scaled
    up so that dropping hidden units visibly moves the probabilities."""
    generator = torch.Generator().manual_seed(seed)
    module = nn.Sequential(
        nn.Flatten(), nn.Linear(2304, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, out)
    )
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return module.eval()


def inputs(batch: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 1, 48, 48, generator=torch.Generator().manual_seed(seed))


def faces(n: int = 7) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48)).astype(np.uint8)


def wrapped(kind: str, seed: int = 0):
    module = [tiny(seed + i) for i in range(3)] if kind == "ensemble" else tiny(seed)
    return from_module(module, kind, samples=6)


def call(method, x, samples=None, seed=0) -> torch.Tensor:
    with torch.inference_mode():
        return method(x, samples=samples, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize(
    ("kind", "samples"), [("classical", 1), ("mc_dropout", 6), ("ensemble", 3)]
)
def test_each_kind_gives_samples_images_classes_that_sum_to_one(kind, samples):
    method = wrapped(kind)
    probs = call(method, inputs(5))
    assert probs.shape == (samples, 5, C) and probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(-1), torch.ones(samples, 5))
    assert method.sampled == (kind == "mc_dropout")
    assert method.name == kind


def test_classical_is_the_softmax_of_one_pass_exactly():
    module, x = tiny(), inputs()
    with torch.inference_mode():
        assert torch.equal(call(from_module(module, "classical"), x)[0], module(x).softmax(-1))
        cooled = call(from_module(module, "classical", temperature=2.0), x)[0]
        assert torch.equal(cooled, (module(x) / 2.0).softmax(-1))


def test_mc_dropout_draws_its_masks_from_the_generator_it_is_given():
    """Each pass drops the hidden units the way `bnnfer.models.layers.drop` does, drawing from the
    call's generator in order: the samples are reproducible by hand."""
    module, x = tiny(), inputs(3)
    probs = call(from_module(module, "mc_dropout"), x, samples=4, seed=11)
    generator = torch.Generator().manual_seed(11)
    with torch.inference_mode():
        hidden = module[2](module[1](module[0](x)))
        for s in range(4):
            kept = torch.rand(hidden.shape, generator=generator) < 0.5
            expected = module[4](hidden * kept / 0.5).softmax(-1)
            torch.testing.assert_close(probs[s], expected)


def test_mc_dropout_same_seed_same_samples_other_seed_other_samples():
    method, x = wrapped("mc_dropout"), inputs()
    first = call(method, x, samples=8, seed=1)
    assert torch.equal(first, call(method, x, samples=8, seed=1))
    assert not torch.allclose(first, call(method, x, samples=8, seed=2))
    assert all(not torch.allclose(first[0], first[s]) for s in range(1, 8))


def test_mc_dropout_mean_approaches_the_deterministic_pass():
    module, x = tiny(), inputs()
    probs = call(from_module(module, "mc_dropout"), x, samples=2000, seed=3)
    with torch.inference_mode():
        deterministic = module(x).softmax(-1)
    # not exactly (the softmax is not linear), but far closer than the samples themselves
    spread = (probs - deterministic).abs().mean()
    error = (probs.mean(0) - deterministic).abs().max()
    assert error < 0.04 and error < spread / 2


def test_ensemble_samples_are_each_members_softmax():
    members, x = [tiny(seed) for seed in range(3)], inputs()
    probs = call(from_module(members, "ensemble"), x)
    assert probs.shape == (3, 5, C)
    with torch.inference_mode():
        for sample, member in zip(probs, members, strict=True):
            assert torch.equal(sample, member(x).softmax(-1))
    # a tuple and an nn.ModuleList are sequences of members too
    assert torch.equal(call(from_module(tuple(members), "ensemble"), x), probs)
    assert torch.equal(call(from_module(nn.ModuleList(members), "ensemble"), x), probs)


@pytest.mark.parametrize("kind", ["classical", "mc_dropout", "ensemble"])
def test_mc_predict_runs_every_kind_on_uint8_faces(kind):
    method, images = wrapped(kind), faces(7)
    probs = mc_predict(method, images, seed=5, batch_size=3)
    expected = {"classical": 1, "mc_dropout": 6, "ensemble": 3}[kind]
    assert probs.shape == (expected, 7, C)
    torch.testing.assert_close(probs.sum(-1), torch.ones(expected, 7))
    assert torch.equal(probs, mc_predict(method, images, seed=5, batch_size=3))
    empty = mc_predict(method, images[:0], seed=5)
    assert empty.shape == (expected, 0, C)
    if kind == "mc_dropout":
        assert mc_predict(method, images, samples=2, seed=5).shape == (2, 7, C)


def test_the_module_keeps_its_mode_weights_and_the_global_generator():
    module, other = tiny(), tiny(1)  # (building a module draws from the global generator)
    weights = [t.clone() for t in module.state_dict().values()]
    rng = torch.get_rng_state()
    for kind in ("classical", "mc_dropout"):
        mc_predict(from_module(module, kind), faces(4), seed=0)
    mc_predict(from_module([module, other], "ensemble"), faces(4), seed=0)
    assert not any(m.training for m in module.modules())
    assert all(
        torch.equal(a, b) for a, b in zip(weights, module.state_dict().values(), strict=True)
    )
    assert torch.equal(rng, torch.get_rng_state())


def test_the_dropout_hook_is_inert_outside_an_mc_call_and_added_once():
    module, x = tiny(), inputs()
    with torch.inference_mode():
        before = module(x)
    method = from_module(module, "mc_dropout")
    again = from_module(copy.deepcopy(module), "mc_dropout")  # the copy carries the hook
    assert (
        len(module[3]._forward_hooks) == 1 and len(again.networks[0].module[3]._forward_hooks) == 1
    )
    with torch.inference_mode():
        assert torch.equal(module(x), before)  # the module on its own: eval-mode dropout
    assert torch.equal(call(from_module(module, "classical"), x)[0], before.softmax(-1))
    # a second wrapper (and a wrapped copy) sample like the first: no layer drops twice
    assert torch.equal(call(from_module(module, "mc_dropout"), x, 5), call(method, x, 5))
    assert torch.equal(call(again, x, 5), call(method, x, 5))
    # what mc_predict runs on another device: a deep copy of the method, hooks and all
    assert torch.equal(call(copy.deepcopy(method), x, 5), call(method, x, 5))


def test_placements_leave_wrapped_methods_out():
    methods = {kind: wrapped(kind) for kind in ("classical", "mc_dropout", "ensemble")}
    assert placements(methods) == {}


class Rendezvous(nn.Module):
    """The identity that, once given a barrier, holds each pass until every thread's pass has
    reached it: the threads' calls are then certainly in flight at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier: threading.Barrier | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.barrier is not None:
            self.barrier.wait(timeout=60)
        return x


def test_four_threads_with_their_own_seeds_match_solo_calls():
    """One wrapped module shared by 4 threads, their passes in step (each waits for the others
    just before the dropout layer): every call gives what it gives alone. A generator handed to
    the dropout layers through a shared attribute instead of a per-thread ContextVar fails."""
    rendezvous = Rendezvous()
    layers = list(tiny())
    module = nn.Sequential(*layers[:3], rendezvous, *layers[3:]).eval()
    method, images = from_module(module, "mc_dropout"), faces(9)
    seeds = [1, 2, 3, 4]
    solo = [mc_predict(method, images, samples=5, seed=s, batch_size=4) for s in seeds]
    rendezvous.barrier = threading.Barrier(len(seeds))
    results: list = [None] * len(seeds)
    errors: list = []

    def worker(i: int) -> None:
        try:
            results[i] = mc_predict(method, images, samples=5, seed=seeds[i], batch_size=4)
        except Exception as error:  # surfaced below
            errors.append(error)
            rendezvous.barrier.abort()  # the others stop waiting for this one

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(seeds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(torch.equal(r, alone) for r, alone in zip(results, solo, strict=True))
    assert not any(m.training for m in module.modules())


# --------------------------------------------------------------------------------------
# errors


def test_kind_must_be_one_of_the_three():
    with pytest.raises(ValueError, match=r"unknown kind 'bayes'.*'classical', 'mc_dropout'"):
        from_module(tiny(), "bayes")
    with pytest.raises(ValueError, match=r"mc_dropconnect needs bnnfer's networks"):
        from_module(tiny(), "mc_dropconnect")
    with pytest.raises(TypeError, match=r"kind must be a string.*from_module\(module, kind"):
        from_module("classical", tiny())  # type: ignore[arg-type]


def test_module_must_be_a_module_and_an_ensemble_a_list_of_them():
    with pytest.raises(TypeError, match=r"must be a torch\.nn\.Module, got a str"):
        from_module("net", "classical")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"for several modules use kind='ensemble'"):
        from_module([tiny(), tiny(1)], "mc_dropout")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"an ensemble wraps a list of nn\.Module.*got a Sequential"
    ):
        from_module(tiny(), "ensemble")
    with pytest.raises(ValueError, match="at least one module, got an empty sequence"):
        from_module([], "ensemble")
    with pytest.raises(TypeError, match=r"ensemble member 1 is a str, not an nn\.Module"):
        from_module([tiny(), "net"], "ensemble")  # type: ignore[list-item]


def test_mc_dropout_needs_dropout_that_drops():
    with pytest.raises(ValueError, match=r"nn.Dropout layers of p > 0.*Dropout\(p=0.0\)"):
        from_module(tiny(p=0.0), "mc_dropout")
    without = nn.Sequential(nn.Flatten(), nn.Linear(2304, C)).eval()
    with pytest.raises(ValueError, match=r"has no nn\.Dropout layer"):
        from_module(without, "mc_dropout")


@pytest.mark.parametrize("kind", ["classical", "mc_dropout", "ensemble"])
def test_a_module_in_training_mode_is_refused_at_call_time(kind):
    method = wrapped(kind)
    method.networks[-1].module[1].train()  # one submodule is enough
    with pytest.raises(RuntimeError, match=r"training mode \(1\).*Call \.eval\(\)"):
        call(method, inputs())
    method.networks[-1].module.eval()
    assert call(method, inputs()).shape[1:] == (5, C)


@pytest.mark.parametrize("kind", ["classical", "mc_dropout"])
def test_output_that_is_not_b_by_8_logits_is_refused_at_the_first_call(kind):
    method = from_module(tiny(out=7), kind)
    expected = re.escape("returned a float32 tensor of shape (5, 7)") + ".*" + re.escape("(5, 8)")
    with pytest.raises(ValueError, match=expected):
        call(method, inputs(5))

    class Pair(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :C], x

    with pytest.raises(ValueError, match=r"returned a tuple.*expected float logits"):
        call(from_module([Pair().eval()], "ensemble"), inputs())


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_samples_must_be_a_positive_integer(bad):
    for kind in ("classical", "mc_dropout", "ensemble"):
        module = [tiny()] if kind == "ensemble" else tiny()
        with pytest.raises(ValueError, match="samples must be a positive integer"):
            from_module(module, kind, samples=bad)
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        call(wrapped("mc_dropout"), inputs(), samples=bad)
    with pytest.raises(ValueError, match="classical inference is deterministic"):
        call(wrapped("classical"), inputs(), samples=bad)
    with pytest.raises(ValueError, match="an ensemble of 3 gives exactly 3 samples"):
        call(wrapped("ensemble"), inputs(), samples=bad)
