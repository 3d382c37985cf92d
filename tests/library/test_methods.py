"""The four inference methods: (S, B, C) probabilities, validation, sampling semantics."""

from __future__ import annotations

import pytest
import torch
from helpers.nets import tiny_config, tiny_network
from torch import nn

from bnnfer.inference.mc import mc_predict
from bnnfer.models import engine
from bnnfer.models.methods import (
    Classical,
    DeepEnsemble,
    MCDropConnect,
    MCDropout,
    Method,
    build_method,
    network_config_for,
)
from bnnfer.models.networks import FaceCNN

C = 8


def make_net(
    stochastic: str = "dropout", placement: str = "all", seed: int = 0, **overrides: object
) -> FaceCNN:
    """A tiny eval-mode network with non-trivial BatchNorm statistics and a sharp head (its
    probabilities spread out, so sampling is visible)."""
    return tiny_network(
        stochastic,
        seed,
        placement=placement,
        batchnorm=("running_mean", "running_var", "bias"),
        head_scale=4.0,
        **overrides,
    )


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def all_methods(family: str = "vgg") -> dict[str, Method]:
    dropout_net = make_net("dropout", family=family)
    dropconnect_net = make_net("dropconnect", "last", family=family)
    return {
        "classical": Classical(dropout_net),
        "mc_dropout": MCDropout(dropout_net, default_samples=7),
        "mc_dropconnect": MCDropConnect(dropconnect_net, default_samples=7),
        "ensemble": DeepEnsemble([make_net("dropout", seed=s, family=family) for s in range(3)]),
    }


EXPECTED_S = {"classical": 1, "mc_dropout": 7, "mc_dropconnect": 7, "ensemble": 3}


# --------------------------------------------------------------------------------------
# shapes and normalisation


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("name", list(EXPECTED_S))
def test_output_is_s_by_b_by_c_probabilities(name: str, family: str) -> None:
    """forward -> float32 (S, B, C), entries in [0, 1], each [s, b] row sums to 1."""
    method = all_methods(family)[name]
    assert method.name == name
    with torch.no_grad():
        probs = method(images(5), generator=gen(0))
    assert probs.shape == (EXPECTED_S[name], 5, C)
    assert probs.dtype == torch.float32
    assert torch.all((probs >= 0) & (probs <= 1))
    torch.testing.assert_close(probs.sum(-1), torch.ones(EXPECTED_S[name], 5))


def test_default_samples() -> None:
    """Defaults: MC 30 (or what build_method is told), ensemble M, classical 1."""
    dropout_net = make_net("dropout")
    assert MCDropout(dropout_net).default_samples == 30
    assert build_method("mc_dropout", [dropout_net], samples=12).default_samples == 12
    assert build_method("classical", [dropout_net]).default_samples == 1
    ensemble = build_method("ensemble", [make_net(seed=s) for s in range(4)])
    assert ensemble.default_samples == 4
    with torch.no_grad():
        assert MCDropout(dropout_net, default_samples=3)(images(2)).shape == (3, 2, C)


def test_build_method_returns_the_right_wrapper() -> None:
    """build_method maps names to classes and passes temperature through."""
    dropout_net = make_net("dropout")
    assert type(build_method("classical", [dropout_net])) is Classical
    assert type(build_method("mc_dropout", [dropout_net])) is MCDropout
    assert type(build_method("mc_dropconnect", [make_net("dropconnect")])) is MCDropConnect
    ens = build_method("ensemble", [make_net(seed=0), make_net(seed=1)], temperature=1.5)
    assert type(ens) is DeepEnsemble and ens.temperature == 1.5


def test_build_method_refuses_bad_requests() -> None:
    """Unknown method names and the wrong number of networks are ValueErrors."""
    net = make_net("dropout")
    with pytest.raises(ValueError, match="unknown method"):
        build_method("bayes_by_backprop", [net])
    with pytest.raises(ValueError):
        build_method("classical", [net, make_net(seed=1)])
    with pytest.raises(ValueError):
        build_method("mc_dropout", [])
    with pytest.raises(ValueError):
        build_method("ensemble", [net])


def test_network_config_for_picks_the_stochastic_kind() -> None:
    """mc_dropconnect trains a DropConnect network, every other method a dropout one."""
    base = tiny_config("none")
    assert network_config_for("mc_dropconnect", base).stochastic == "dropconnect"
    for name in ("classical", "mc_dropout", "ensemble"):
        config = network_config_for(name, base)
        assert config.stochastic == "dropout" and config.widths == (4, 8)
    with pytest.raises(ValueError):
        network_config_for("nope")


# --------------------------------------------------------------------------------------
# validation


def test_classical_is_one_sample_only() -> None:
    """Classical accepts samples None or 1 and refuses anything else."""
    method = Classical(make_net())
    with torch.no_grad():
        assert method(images(2), samples=1).shape == (1, 2, C)
        assert method(images(2), samples=None).shape == (1, 2, C)
    with pytest.raises(ValueError):
        method(images(2), samples=5)
    with pytest.raises(ValueError):
        method.check_samples(0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_mc_refuses_non_positive_integer_samples(bad: object) -> None:
    """samples must be a positive int (bool is not an int here)."""
    method = MCDropout(make_net())
    with pytest.raises(ValueError):
        method.check_samples(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MCDropout(make_net(), default_samples=bad)  # type: ignore[arg-type]


def test_mc_dropout_refuses_dropconnect_and_deterministic_networks() -> None:
    """MC-Dropout needs dropout layers with p > 0."""
    with pytest.raises(ValueError):
        MCDropout(make_net("dropconnect"))
    with pytest.raises(ValueError):
        MCDropout(make_net("none"))
    with pytest.raises(ValueError):
        MCDropout(make_net("dropout", block_rate=0.0, head_rate=0.0))
    with pytest.raises(TypeError):
        MCDropout(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_mc_dropconnect_refuses_dropout_and_deterministic_networks() -> None:
    """MC-DropConnect needs DropConnect layers with p > 0."""
    with pytest.raises(ValueError):
        MCDropConnect(make_net("dropout"))
    with pytest.raises(ValueError):
        MCDropConnect(make_net("none"))
    with pytest.raises(TypeError):
        Classical(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_ensemble_validation() -> None:
    """An ensemble needs >= 2 FaceCNN members with one class count; S is fixed at M."""
    with pytest.raises(ValueError):
        DeepEnsemble([make_net()])
    with pytest.raises(ValueError):
        DeepEnsemble([])
    with pytest.raises(TypeError):
        DeepEnsemble([make_net(), nn.Linear(2, 2)])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        DeepEnsemble([make_net(), make_net(num_classes=3)])
    ensemble = DeepEnsemble([make_net(seed=0), make_net(seed=1)])
    with torch.no_grad():
        assert ensemble(images(2), samples=2).shape == (2, 2, C)
    for bad in (1, 3, 30):
        with pytest.raises(ValueError):
            ensemble(images(2), samples=bad)


def test_temperature_must_be_positive() -> None:
    """temperature <= 0 is refused."""
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError):
            Classical(make_net(), temperature=bad)
        with pytest.raises(ValueError):
            MCDropout(make_net(), temperature=bad)


@pytest.mark.parametrize("name", list(EXPECTED_S))
def test_network_in_train_mode_raises(name: str) -> None:
    """Inference refuses a network in training mode (BN would use batch statistics)."""
    method = all_methods()[name]
    method.train()
    with pytest.raises(RuntimeError, match="training mode"):
        method(images(2))
    method.eval()
    method.networks[-1].train()  # just one network (one ensemble member) is enough
    with pytest.raises(RuntimeError):
        method(images(2))


# --------------------------------------------------------------------------------------
# what the samples are


def test_classical_is_softmax_of_the_network_and_deterministic() -> None:
    """Classical = softmax(net(x)) (to float rounding: the engine folds BatchNorm into the
    convolutions); generators and repeats change nothing."""
    net = make_net("dropout")
    method = Classical(net)
    x = images(4)
    with torch.no_grad():
        expected = torch.softmax(net(x), -1)
        a = method(x, generator=gen(0))
        b = method(x, generator=gen(1))
        c = method(x)
    torch.testing.assert_close(a[0], expected, rtol=0, atol=1e-6)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_ensemble_sample_m_is_member_m() -> None:
    """Ensemble sample m is softmax of member m's deterministic logits; repeatable."""
    members = [make_net(seed=s) for s in range(3)]
    method = DeepEnsemble(members)
    x = images(3)
    with torch.no_grad():
        probs = method(x)
        for m, member in enumerate(members):
            expected = torch.softmax(member(x), -1)  # unfolded BatchNorm: rounding differs
            torch.testing.assert_close(probs[m], expected, rtol=0, atol=1e-6)
        assert torch.equal(probs, method(x, generator=gen(5)))
    assert not torch.allclose(probs[0], probs[1])


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("name", ["mc_dropout", "mc_dropconnect"])
def test_mc_samples_differ_across_s_and_are_seeded(name: str, family: str) -> None:
    """MC samples vary with s; the generator's seed alone fixes them (the separable family's
    channel dropout as well)."""
    method = all_methods(family)[name]
    x = images(3)
    with torch.no_grad():
        a = method(x, samples=6, generator=gen(1))
        b = method(x, samples=6, generator=gen(1))
        c = method(x, samples=6, generator=gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    for s in range(1, 6):
        assert not torch.allclose(a[0], a[s])


def test_mc_dropout_identical_images_get_independent_samples() -> None:
    """Dropout masks are per element: two copies of one image differ within a sample."""
    method = MCDropout(make_net("dropout"))
    x = images(1).expand(2, 1, 48, 48)
    with torch.no_grad():
        probs = method(x, samples=10, generator=gen(0))
    assert not torch.allclose(probs[:, 0], probs[:, 1])


@pytest.mark.parametrize("placement", ["all", "last", "head"])
def test_mc_dropconnect_identical_images_share_each_weight_sample(placement: str) -> None:
    """One weight mask per sample, shared by the batch: copies of an image agree in each s."""
    method = MCDropConnect(make_net("dropconnect", placement))
    x = images(1).expand(3, 1, 48, 48).contiguous()
    with torch.no_grad():
        probs = method(x, samples=8, generator=gen(0))
    torch.testing.assert_close(probs[:, 1], probs[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(probs[:, 2], probs[:, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(probs[0], probs[1])


@pytest.mark.parametrize(
    "placement",
    [
        "all",
        "last",
        "head",
    ],
)
def test_mc_dropconnect_equals_naive_stochastic_passes_with_same_seed(placement: str) -> None:
    """MC-DropConnect draws one weight mask per sample in layer order, exactly as S full
    passes net(x, stochastic=True) with one generator do; the shared trunk must not change
    the result (the trunk draws nothing)."""
    net = make_net("dropconnect", placement)
    method = MCDropConnect(net)
    x = images(3)
    samples = 5
    with torch.no_grad():
        batched = method(x, samples=samples, generator=gen(3))
        g = gen(3)
        naive = torch.stack(
            [torch.softmax(net(x, stochastic=True, generator=g), -1) for _ in range(samples)]
        )
    torch.testing.assert_close(batched, naive, rtol=1e-5, atol=1e-6)


def _assert_same_distribution(a: torch.Tensor, b: torch.Tensor, samples: int) -> None:
    """Per (image, class): means within 5 standard errors, stds within 25 %."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    std_a, std_b = a.std(0), b.std(0)
    standard_error = torch.sqrt((std_a**2 + std_b**2) / samples)
    assert torch.all((mean_a - mean_b).abs() <= 5 * standard_error + 1e-4), (
        (mean_a - mean_b).abs().max()
    )
    assert torch.all((std_a - std_b).abs() <= 0.25 * torch.maximum(std_a, std_b) + 1e-3), (
        (std_a - std_b).abs().max()
    )


@pytest.mark.parametrize("placement", ["all", "last", "head"])
@pytest.mark.parametrize("max_rows", [2048, 50])
def test_mc_dropout_batched_path_matches_naive_loop_in_distribution(
    placement: str, max_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trunk shared + samples run as one (S*B) batch (or in chunks when MAX_ROWS is small)
    gives the same per-class mean and std of the probabilities as S = 400 independent full
    stochastic passes net(x, stochastic=True)."""
    monkeypatch.setattr(engine, "MAX_ROWS", {"cpu": max_rows, "other": max_rows})
    net = make_net("dropout", placement)
    method = MCDropout(net)
    x = images(3)
    samples = 400
    with torch.no_grad():
        batched = method(x, samples=samples, generator=gen(10))
        g = gen(20)
        naive = torch.stack(
            [torch.softmax(net(x, stochastic=True, generator=g), -1) for _ in range(samples)]
        )
    assert batched.shape == naive.shape == (samples, 3, C)
    # the sampling is not degenerate: the probabilities do move
    assert naive.std(0).max() > 0.02 and batched.std(0).max() > 0.02
    _assert_same_distribution(batched, naive, samples)


# --------------------------------------------------------------------------------------
# temperature


def test_temperature_two_is_softmax_of_half_logits() -> None:
    """temperature=2: probabilities = softmax(logits / 2), for classical and the ensemble."""
    net = make_net()
    x = images(4)
    with torch.no_grad():
        logits = net(x)
        probs = Classical(net, temperature=2.0)(x)[0]
    torch.testing.assert_close(probs, torch.softmax(logits / 2, -1))
    assert not torch.allclose(probs, torch.softmax(logits, -1))
    members = [make_net(seed=0), make_net(seed=1)]
    with torch.no_grad():
        ens = DeepEnsemble(members, temperature=2.0)(x)
        for m, member in enumerate(members):
            torch.testing.assert_close(ens[m], torch.softmax(member(x) / 2, -1))


@pytest.mark.parametrize("kind", ["dropout", "dropconnect"])
def test_mc_temperature_rescales_each_sample(kind: str) -> None:
    """Same seed, T = 2 vs T = 1: each sample satisfies p_T2 = softmax(log(p_T1) / 2)."""
    net = make_net(kind, "last")
    cls = MCDropout if kind == "dropout" else MCDropConnect
    x = images(3)
    with torch.no_grad():
        p1 = cls(net)(x, samples=4, generator=gen(0))
        p2 = cls(net, temperature=2.0)(x, samples=4, generator=gen(0))
    torch.testing.assert_close(p2, torch.softmax(torch.log(p1) / 2, -1), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# methods never change their networks


def _snapshot(method: Method) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in net.state_dict().items()} for net in method.networks]


@pytest.mark.parametrize("name", list(EXPECTED_S))
def test_mc_predict_leaves_networks_in_eval_mode_with_unchanged_buffers(name: str) -> None:
    """After inference every module is still in eval mode and every parameter and buffer
    (BatchNorm running mean/var, num_batches_tracked) is bit-identical."""
    method = all_methods()[name]
    before = _snapshot(method)
    mc_predict(method, images(5), batch_size=2, seed=0)
    with torch.no_grad():
        method(images(2), generator=gen(0))
    for net, saved in zip(method.networks, before, strict=True):
        assert not any(m.training for m in net.modules())
        after = net.state_dict()
        assert saved.keys() == after.keys()
        for key, value in saved.items():
            assert torch.equal(value, after[key]), key


def test_method_device_is_its_parameters_device() -> None:
    """Method.device reports where the weights are."""
    assert Classical(make_net()).device == torch.device("cpu")
