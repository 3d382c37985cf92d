"""Stochastic layers: SampledDropout, SampledChannelDropout, DropConnectConv2d, DropConnectLinear.

Sampling is controlled by the explicit ``stochastic`` flag and an optional generator, never by
``module.training``; these tests check the analytic properties of the masks.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bnnfer.models.layers import (
    DropConnectConv2d,
    DropConnectLinear,
    SampledChannelDropout,
    SampledDropout,
    drop,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bounded_weights(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Weights with |w| in [0.5, 1.5] and random sign, so "dropped" (0) is unambiguous."""
    g = _gen(seed)
    magnitude = 0.5 + torch.rand(shape, generator=g)
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    return magnitude * sign


def _classify_effective(effective: torch.Tensor, weight: torch.Tensor, p: float) -> torch.Tensor:
    """Bool tensor: True where dropped (0); asserts every entry is 0 or w / (1 - p)."""
    dropped = effective == 0
    kept = torch.isclose(effective, weight / (1 - p), rtol=1e-5, atol=1e-6)
    assert torch.all(dropped | kept), "an effective weight is neither 0 nor w / (1 - p)"
    return dropped


def _paired_linear(p: float, bias: bool = True) -> tuple[DropConnectLinear, nn.Linear]:
    torch.manual_seed(0)
    dc = DropConnectLinear(6, 5, p=p, bias=bias)
    plain = nn.Linear(6, 5, bias=bias)
    plain.load_state_dict(dc.state_dict())
    return dc, plain


def _paired_conv(p: float) -> tuple[DropConnectConv2d, nn.Conv2d]:
    torch.manual_seed(0)
    dc = DropConnectConv2d(3, 4, 3, padding=1, p=p)
    plain = nn.Conv2d(3, 4, 3, padding=1)
    plain.load_state_dict(dc.state_dict())
    return dc, plain


# --------------------------------------------------------------------------------------
# deterministic path


@pytest.mark.parametrize("training", [False, True])
def test_dropconnect_linear_not_stochastic_equals_plain_linear(training: bool) -> None:
    """stochastic=False (and the default) is exactly nn.Linear, whatever module.training says."""
    dc, plain = _paired_linear(0.5)
    dc.train(training)
    x = torch.randn(7, 6)
    expected = plain(x)
    assert torch.equal(dc(x, stochastic=False), expected)
    assert torch.equal(dc(x), expected)
    assert torch.equal(dc(x, stochastic=False, generator=_gen(1)), expected)


@pytest.mark.parametrize("training", [False, True])
def test_dropconnect_conv_not_stochastic_equals_plain_conv(training: bool) -> None:
    """stochastic=False (and the default) is exactly nn.Conv2d, whatever module.training says."""
    dc, plain = _paired_conv(0.5)
    dc.train(training)
    x = torch.randn(2, 3, 9, 9)
    expected = plain(x)
    assert torch.equal(dc(x, stochastic=False), expected)
    assert torch.equal(dc(x), expected)


def test_mcdropout_not_stochastic_is_identity_even_in_training_mode() -> None:
    """SampledDropout(stochastic=False) returns its input unchanged in train and eval mode."""
    layer = SampledDropout(0.5)
    x = torch.randn(4, 10)
    for training in (True, False):
        layer.train(training)
        assert torch.equal(layer(x), x)
        assert torch.equal(layer(x, stochastic=False, generator=_gen(0)), x)


# --------------------------------------------------------------------------------------
# DropConnect masks: values, rate, unbiasedness


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropconnect_linear_effective_weights_are_zero_or_rescaled(p: float) -> None:
    """Identity inputs read out W_eff.T: every entry is 0 or w/(1-p); the dropped fraction ~ p."""
    layer = DropConnectLinear(6, 5, p=p, bias=False)
    with torch.no_grad():
        layer.weight.copy_(_bounded_weights((5, 6), seed=3))
    eye = torch.eye(6)
    g = _gen(11)
    draws = 1500
    dropped_total = 0
    with torch.no_grad():
        for _ in range(draws):
            effective = layer(eye, stochastic=True, generator=g).T  # (out, in) = W_eff
            dropped_total += int(_classify_effective(effective, layer.weight, p).sum())
    n = draws * layer.weight.numel()
    fraction = dropped_total / n
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(fraction - p) < 5 * sigma, (fraction, p)


def test_dropconnect_linear_bias_is_never_dropped() -> None:
    """With a zero input the output is the bias exactly, in every stochastic draw."""
    layer = DropConnectLinear(6, 5, p=0.9)
    g = _gen(0)
    zeros = torch.zeros(3, 6)
    with torch.no_grad():
        for _ in range(50):
            out = layer(zeros, stochastic=True, generator=g)
            assert torch.equal(out, layer.bias.expand(3, 5))


def test_dropconnect_conv_effective_kernel_is_zero_or_rescaled() -> None:
    """Delta images read out the (flipped) kernel: each tap is 0 or w/(1-p); fraction ~ p.

    Image k of the batch is a delta in input channel k, so one call (one shared mask) reads
    out every tap ``w[:, k]`` of the effective kernel.
    """
    p = 0.4
    in_ch, out_ch = 3, 8
    layer = DropConnectConv2d(in_ch, out_ch, 3, padding=1, bias=False, p=p)
    with torch.no_grad():
        layer.weight.copy_(_bounded_weights((out_ch, in_ch, 3, 3), seed=5))
    deltas = torch.zeros(in_ch, in_ch, 5, 5)
    for k in range(in_ch):
        deltas[k, k, 2, 2] = 1.0

    def read_kernel(out: torch.Tensor) -> torch.Tensor:
        # cross-correlation: out[k, c, 3 - u, 3 - v] = w[c, k, u, v] around the delta
        return out[:, :, 1:4, 1:4].flip(-1, -2).transpose(0, 1)

    with torch.no_grad():
        assert torch.equal(read_kernel(layer(deltas)), layer.weight)
    g = _gen(2)
    draws = 300
    dropped_total = 0
    with torch.no_grad():
        for _ in range(draws):
            effective = read_kernel(layer(deltas, stochastic=True, generator=g))
            dropped_total += int(_classify_effective(effective, layer.weight, p).sum())
    n = draws * layer.weight.numel()
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(dropped_total / n - p) < 5 * sigma


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_dropconnect_mean_over_draws_approaches_deterministic_output(kind: str) -> None:
    """E[W * m / (1-p)] = W, so the mean of many stochastic outputs converges to the plain one.

    For output j, Var = p/(1-p) * sum_i (w_ji x_i)^2 (independent taps); we allow 5 standard
    errors of the mean.
    """
    p = 0.5
    torch.manual_seed(0)
    if kind == "linear":
        layer: nn.Module = DropConnectLinear(6, 5, p=p)
        x = torch.randn(1, 6)
    else:
        layer = DropConnectConv2d(2, 3, 3, padding=1, p=p)
        x = torch.randn(1, 2, 5, 5)
    g = _gen(7)
    draws = 1500
    with torch.no_grad():
        expected = layer(x)
        samples = torch.stack([layer(x, stochastic=True, generator=g) for _ in range(draws)])
    mean = samples.mean(0)
    std_error = samples.std(0) / math.sqrt(draws)
    assert torch.all((mean - expected).abs() <= 5 * std_error + 1e-6)
    # and the draws really vary (so the check above is not vacuous)
    assert samples.std(0).max() > 0.05


# --------------------------------------------------------------------------------------
# seeding


@pytest.mark.parametrize("kind", ["dropout", "channel", "linear", "conv"])
def test_same_seed_same_output_different_seed_different_output(kind: str) -> None:
    """The generator alone decides the mask: equal seeds -> equal outputs, else different."""
    torch.manual_seed(0)
    if kind == "dropout":
        layer: nn.Module = SampledDropout(0.5)
        x = torch.randn(4, 32)
    elif kind == "channel":
        layer = SampledChannelDropout(0.5)
        x = torch.randn(4, 16, 3, 3)
    elif kind == "linear":
        layer = DropConnectLinear(16, 8, p=0.5)
        x = torch.randn(4, 16)
    else:
        layer = DropConnectConv2d(2, 4, 3, padding=1, p=0.5)
        x = torch.randn(2, 2, 6, 6)
    with torch.no_grad():
        a = layer(x, stochastic=True, generator=_gen(123))
        torch.manual_seed(999)  # the global RNG must not matter when a generator is given
        b = layer(x, stochastic=True, generator=_gen(123))
        c = layer(x, stochastic=True, generator=_gen(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --------------------------------------------------------------------------------------
# mask sharing: DropConnect per call, dropout per element


def test_dropconnect_linear_one_mask_shared_by_all_rows() -> None:
    """Identical rows in one stochastic call get identical outputs (one weight mask per call)."""
    layer = DropConnectLinear(10, 6, p=0.5)
    x = torch.randn(1, 10).expand(8, 10)
    g = _gen(4)
    with torch.no_grad():
        out = layer(x, stochastic=True, generator=g)
        assert torch.equal(out, out[:1].expand_as(out))
        assert not torch.equal(out[0], layer(x[:1])[0])  # it did sample


def test_dropconnect_conv_one_mask_shared_by_all_images() -> None:
    """Identical images in one stochastic call get identical feature maps."""
    layer = DropConnectConv2d(2, 4, 3, padding=1, p=0.5)
    x = torch.randn(1, 2, 6, 6).expand(5, 2, 6, 6)
    with torch.no_grad():
        out = layer(x, stochastic=True, generator=_gen(4))
        assert torch.equal(out, out[:1].expand_as(out))
        assert not torch.equal(out, layer(x))


@pytest.mark.parametrize("use_generator", [True, False])
def test_mcdropout_per_element_masks(use_generator: bool) -> None:
    """Each element is zeroed with probability p and survivors are scaled by 1/(1-p).

    Identical rows get different masks (per element, not per batch). Checked for the seeded
    path and for the fused-kernel path used without a generator.
    """
    p = 0.3
    layer = SampledDropout(p)
    x = 0.5 + torch.rand(1, 200).expand(400, 200)  # bounded away from 0
    generator = _gen(8) if use_generator else None
    if not use_generator:
        torch.manual_seed(8)
    out = layer(x, stochastic=True, generator=generator)
    zero = out == 0
    assert torch.allclose(out[~zero], (x / (1 - p))[~zero])
    n = out.numel()
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(zero.float().mean().item() - p) < 5 * sigma
    # rows were identical, their masks are not
    assert not torch.equal(zero[0], zero[1])
    # the input is not modified in place
    assert torch.all(x > 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("use_generator", [True, False])
def test_channel_dropout_masks_whole_feature_maps(use_generator: bool, dtype: torch.dtype) -> None:
    """Each (image, channel) map is zeroed whole with probability p, the rest scaled by
    1/(1-p); identical images get different masks. Seeded path (one float32 draw per map,
    kept where it is below 1 - p) and the fused kernel alike, in the input's dtype."""
    p, batch, channels = 0.3, 300, 40
    layer = SampledChannelDropout(p)
    x = 0.5 + torch.rand(1, channels, 4, 4).expand(batch, channels, 4, 4)
    x = x.to(dtype).contiguous(memory_format=torch.channels_last)
    generator = _gen(8) if use_generator else None
    if not use_generator:
        torch.manual_seed(8)
    out = layer(x, stochastic=True, generator=generator)
    assert out.dtype == dtype and out.shape == x.shape
    zero = out == 0
    per_map = zero.flatten(2)
    assert torch.equal(per_map.all(-1), per_map.any(-1))  # a map is dropped whole or kept
    expected = (x / (1 - p))[~zero]
    if use_generator:  # the seeded path divides as `drop` does: exactly x / (1 - p)
        assert torch.equal(out[~zero], expected)
    else:  # the fused kernel multiplies by its own rounding of 1 / (1 - p)
        torch.testing.assert_close(out[~zero], expected, rtol=1e-2, atol=0)
    dropped = per_map.all(-1)
    sigma = math.sqrt(p * (1 - p) / dropped.numel())
    assert abs(dropped.float().mean().item() - p) < 5 * sigma
    assert not torch.equal(dropped[0], dropped[1])
    if use_generator:
        draws = torch.rand(batch, channels, generator=_gen(8))
        assert torch.equal(~dropped, draws < 1 - p)


def test_channel_dropout_refuses_inputs_that_are_not_feature_maps() -> None:
    layer = SampledChannelDropout(0.2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) inputs, got shape \(4, 8\)"):
        layer(torch.randn(4, 8), stochastic=True, generator=_gen(0))
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), x)  # not stochastic: the identity
    assert isinstance(layer, SampledDropout)  # so MC-Dropout samples it


# --------------------------------------------------------------------------------------
# rates


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_rate_outside_unit_interval_raises(p: float) -> None:
    """p must lie in [0, 1): 1 would divide by zero, negatives are meaningless."""
    with pytest.raises(ValueError):
        SampledDropout(p)
    with pytest.raises(ValueError):
        SampledChannelDropout(p)
    with pytest.raises(ValueError):
        DropConnectLinear(3, 2, p=p)
    with pytest.raises(ValueError):
        DropConnectConv2d(1, 2, 3, p=p)


def test_rate_zero_is_identity_even_when_stochastic() -> None:
    """p = 0: dropout passes x through and DropConnect equals the plain layer."""
    x = torch.randn(3, 6)
    assert torch.equal(SampledDropout(0.0)(x, stochastic=True, generator=_gen(0)), x)
    dc, plain = _paired_linear(0.0)
    assert torch.equal(dc(x, stochastic=True, generator=_gen(0)), plain(x))
    conv, plain_conv = _paired_conv(0.0)
    image = torch.randn(1, 3, 5, 5)
    assert torch.equal(conv(image, stochastic=True, generator=_gen(0)), plain_conv(image))


def test_rate_is_stored_as_float_and_shown_in_repr() -> None:
    """The drop probability is kept as a float and appears in the module's repr."""
    layer = DropConnectLinear(3, 2, p=0.25)
    assert isinstance(SampledDropout(0).p, float)
    assert "p=0.25" in repr(layer)
    assert "p=0.5" in repr(SampledDropout(0.5))
    assert "p=0.1" in repr(DropConnectConv2d(1, 2, 3, p=0.1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_drop_rate_layout_and_values(dtype: torch.dtype) -> None:
    """drop keeps an entry with probability 1 - p (within 5 binomial standard deviations) in any
    dtype and in the input's memory layout; kept entries are values / (1 - p) exactly where a
    float32 uniform draw is below 1 - p, and a precomputed ``scaled`` gives the same result for
    the same draws."""
    p, n = 0.3, 200_000
    like = torch.ones(n // 100, 4, 5, 5, dtype=dtype).contiguous(memory_format=torch.channels_last)
    ones_dropped = drop(like, p, _gen(0))
    assert ones_dropped.is_contiguous(memory_format=torch.channels_last)
    kept = ones_dropped != 0
    rate = kept.float().mean().item()
    assert abs(rate - (1 - p)) < 5 * math.sqrt(p * (1 - p) / kept.numel())
    values = torch.randn(like.shape, generator=_gen(1)).to(dtype)
    dropped = drop(values, p, _gen(2))
    draws = torch.rand_like(values, dtype=torch.float32, generator=_gen(2))
    expected = torch.where(draws < 1 - p, values / (1 - p), 0.0)
    assert torch.equal(dropped, expected) and dropped.dtype == dtype
    assert torch.equal(drop(values, p, _gen(2), scaled=values / (1 - p)), dropped)
