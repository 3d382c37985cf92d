"""bnnfer.models.folding: a folded conv computes BatchNorm(conv(x)) (against the two torch modules,
with and without a conv bias and BatchNorm affine parameters), the folded layer list computes the
network, DropConnect draws the same samples on it, the cache follows weight changes, and bad input
is refused."""

from __future__ import annotations

import pytest
import torch
from helpers.nets import tiny_network
from torch import nn

from bnnfer.models import engine
from bnnfer.models.folding import fold_conv_batchnorm, inference_layers
from bnnfer.models.layers import DropConnectConv2d
from bnnfer.models.networks import FaceCNN


def _randomise(norm: nn.BatchNorm2d, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    c = norm.num_features
    with torch.no_grad():
        norm.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
        norm.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.1)
        if norm.affine:
            norm.weight.copy_(torch.rand(c, generator=g) + 0.5)
            norm.bias.copy_(torch.rand(c, generator=g) - 0.5)


def _net(kind: str, family: str = "vgg") -> FaceCNN:
    net = tiny_network(kind, 0, convs_per_stage=2, family=family)
    for i, module in enumerate(net.modules()):
        if isinstance(module, nn.BatchNorm2d):
            _randomise(module, i)
    return net


@pytest.mark.parametrize("groups", [1, 5])
@pytest.mark.parametrize("conv_bias", [False, True])
@pytest.mark.parametrize("affine", [False, True])
def test_folded_conv_equals_batchnorm_of_conv(conv_bias: bool, affine: bool, groups: int) -> None:
    """groups=5: a depthwise conv, whose weight (C, 1, k, k) is scaled per output channel too."""
    torch.manual_seed(1)
    conv = nn.Conv2d(3 if groups == 1 else 5, 5, 3, padding=1, bias=conv_bias, groups=groups)
    norm = nn.BatchNorm2d(5, affine=affine).eval()
    _randomise(norm, 2)
    x = torch.randn(4, conv.in_channels, 9, 9)
    weight_before = conv.weight.detach().clone()
    with torch.no_grad():
        expected = norm(conv(x))
        folded = fold_conv_batchnorm(conv, norm)
        torch.testing.assert_close(folded(x), expected, rtol=1e-5, atol=1e-5)
    assert folded is not conv and type(folded) is nn.Conv2d
    assert torch.equal(conv.weight, weight_before) and (conv.bias is None) != conv_bias


def test_folded_dropconnect_conv_keeps_its_rate_and_class() -> None:
    conv = DropConnectConv2d(2, 3, 3, padding=1, bias=False, p=0.25)
    folded = fold_conv_batchnorm(conv, nn.BatchNorm2d(3).eval())
    assert type(folded) is DropConnectConv2d and folded.p == 0.25


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("kind", ["dropout", "dropconnect", "none"])
def test_folded_layers_compute_the_network(kind: str, family: str) -> None:
    """In the separable family each BatchNorm folds into the pointwise conv before it; the
    depthwise convs stay as they are."""
    net = _net(kind, family)
    layers = inference_layers(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in layers)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.layers) == 4
    assert len(layers) == len(net.layers) - 4
    x = torch.rand(6, 1, 48, 48)
    with torch.inference_mode():
        torch.testing.assert_close(
            engine.deterministic(net, x), net(x, stochastic=False), rtol=1e-5, atol=1e-5
        )
    # the folded weights keep the network's channels-last layout
    conv = next(m for m in layers if isinstance(m, nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("layout", ["grouped", "looped"])
def test_dropconnect_draws_the_same_samples_on_folded_layers(layout: str, family: str) -> None:
    net = _net("dropconnect", family)
    x = torch.rand(5, 1, 48, 48)
    with torch.inference_mode():
        folded = engine.dropconnect_samples(
            net, x, 4, torch.Generator().manual_seed(3), layout=layout
        )
        plain = engine.dropconnect_samples(
            net, x, 4, torch.Generator().manual_seed(3), layout=layout, fold=False
        )
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(folded[0], folded[1])  # samples still differ


def test_cache_returns_one_folded_copy_until_the_weights_change() -> None:
    net = _net("dropout")
    first = inference_layers(net)
    assert inference_layers(net) is first
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():  # an optimizer step writes in place like this
        net.layers[1].weight.mul_(2.0)
    second = inference_layers(net)
    assert second is not first
    with torch.inference_mode():
        torch.testing.assert_close(engine.deterministic(net, x), net(x), rtol=1e-5, atol=1e-5)
    net.load_state_dict(_net("dropout").state_dict())
    assert inference_layers(net) is not second
    assert inference_layers(net, torch.bfloat16) is not inference_layers(net)


def test_bf16_folded_layers_hold_bf16_weights() -> None:
    layers = inference_layers(_net("dropconnect"), torch.bfloat16)
    weighted = [m for m in layers if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weighted and all(m.weight.dtype == torch.bfloat16 for m in weighted)
    assert all(m.bias.dtype == torch.bfloat16 for m in weighted)


def test_refuses_training_mode_and_mismatched_or_statless_batchnorm() -> None:
    net = _net("dropout").train()
    with pytest.raises(RuntimeError, match="eval mode"):
        inference_layers(net)
    with pytest.raises(ValueError, match="5 channels, the conv before it 3"):
        fold_conv_batchnorm(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(5).eval())
    with pytest.raises(ValueError, match="no running statistics"):
        fold_conv_batchnorm(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, track_running_stats=False))


def test_layers_folded_in_inference_mode_still_pass_gradients_to_the_input() -> None:
    """A method first used by mc_predict (inference mode) still serves a saliency map."""
    from bnnfer.models.methods import Classical

    method = Classical(_net("dropout"))
    x = torch.rand(2, 1, 48, 48)
    with torch.inference_mode():
        method(x)  # folds and caches the layers
    x.requires_grad_(True)
    method(x)[0, :, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
