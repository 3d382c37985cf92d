"""bnnfer.models.engine: both DropConnect layouts (grouped, looped) give exactly the samples of S
separate passes for the same seed (every placement, with and without batch chunking, both network
families), and the batched dropout path is reproducible and agrees in its moments with the naive
loop."""

from __future__ import annotations

import pytest
import torch
from helpers.nets import tiny_network

from bnnfer.models import engine
from bnnfer.models.layers import DropConnectConv2d
from bnnfer.models.networks import FaceCNN


def _net(kind: str, placement: str, seed: int = 0, family: str = "vgg") -> FaceCNN:
    net = tiny_network(
        kind,
        seed,
        family=family,
        widths=(4, 8, 8),
        convs_per_stage=2,
        head_width=16,
        placement=placement,
        block_rate=0.3,
        head_rate=0.4,
    )
    for module in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(n))


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("placement", ["all", "last", "head"])
@pytest.mark.parametrize(
    ("layout", "max_rows"), [("grouped", 2048), ("grouped", 10), ("looped", None)]
)
def test_dropconnect_engine_equals_separate_passes_for_the_same_seed(
    family, placement, layout, max_rows
):
    """The separable family's depthwise convs, deterministic between masked pointwise ones,
    run per sample in the grouped layout (``groups = S * C``) and shared before the first."""
    net = _net("dropconnect", placement, family=family)
    x = _images(7)
    with torch.inference_mode():
        naive = engine.naive_samples(net, x, 6, torch.Generator().manual_seed(3))
        fast = engine.dropconnect_samples(
            net, x, 6, torch.Generator().manual_seed(3), max_rows, layout=layout
        )
    assert fast.shape == naive.shape == (6, 7, 8)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-4)
    assert (naive[0] - naive[1]).abs().max() > 1e-3  # the samples really differ


@pytest.mark.parametrize("layout", ["grouped", "looped"])
def test_dropconnect_shares_one_weight_sample_across_the_batch(layout):
    """Image i alone gives the same samples as image i inside a batch (same seed)."""
    net = _net("dropconnect", "all")
    x = _images(5)
    with torch.inference_mode():
        batch = engine.dropconnect_samples(
            net, x, 4, torch.Generator().manual_seed(1), layout=layout
        )
        single = engine.dropconnect_samples(
            net, x[2:3], 4, torch.Generator().manual_seed(1), layout=layout
        )
    torch.testing.assert_close(batch[:, 2:3], single, rtol=1e-4, atol=1e-4)


def test_dropconnect_layouts_and_the_device_defaults():
    net = _net("dropconnect", "all")
    x = _images(3)
    with torch.inference_mode():
        default = engine.dropconnect_samples(net, x, 3, torch.Generator().manual_seed(2))
        looped = engine.dropconnect_samples(
            net, x, 3, torch.Generator().manual_seed(2), layout="looped"
        )
    assert engine.dropconnect_layout(torch.device("cpu"), 1) == "looped"
    assert engine.dropconnect_layout(torch.device("cpu"), 10_000) == "looped"
    torch.testing.assert_close(default, looped, rtol=0, atol=0)
    with pytest.raises(ValueError, match="layout must be 'grouped' or 'looped', got 'diagonal'"):
        engine.dropconnect_samples(net, x, 3, None, layout="diagonal")


@pytest.mark.parametrize("family", ["vgg", "separable"])
def test_dropout_engine_is_seeded_and_matches_naive_moments(family):
    """Element-wise dropout (VGG) and channel dropout (separable) alike."""
    net = _net("dropout", "all", family=family)
    x = _images(3)
    with torch.inference_mode():
        a = engine.dropout_samples(net, x, 300, torch.Generator().manual_seed(5))
        b = engine.dropout_samples(net, x, 300, torch.Generator().manual_seed(5))
        naive = engine.naive_samples(net, x, 300, torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    pa, pn = a.softmax(-1), naive.softmax(-1)
    assert (pa.mean(0) - pn.mean(0)).abs().max() < 0.05
    assert (pa.std(0) - pn.std(0)).abs().max() < 0.05


@pytest.mark.parametrize("layout", ["grouped", "looped"])
def test_dropconnect_engine_refuses_a_dropout_network(layout):
    net = _net("dropout", "all")
    with pytest.raises(ValueError, match="DropConnect networks only"):
        engine.dropconnect_samples(net, _images(2), 2, None, layout=layout)


def test_grouped_layout_refuses_to_mask_a_depthwise_conv():
    """A masked conv of several groups before the samples are grouped has no grouped form."""
    layers = [DropConnectConv2d(4, 4, 3, padding=1, groups=4, p=0.5), torch.nn.Flatten()]
    h = torch.rand(2, 4, 5, 5)
    weights = engine._draw_weights(layers, 3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"grouped \(depthwise\) conv"):
        engine._grouped_rest(layers, 0, h, 3, weights)


@pytest.mark.parametrize("method_name", ["classical", "mc_dropout", "mc_dropconnect"])
def test_bf16_inference_agrees_with_fp32(method_name):
    """Half precision (bf16 autocast) gives probabilities within 2e-2 of float32."""
    from bnnfer import build_method, mc_predict

    kind = "dropconnect" if method_name == "mc_dropconnect" else "dropout"
    method = build_method(method_name, [_net(kind, "all")]).eval()
    x = _images(6)
    samples = None if method_name == "classical" else 5
    full = mc_predict(method, x, samples=samples, seed=2, precision="fp32")
    half = mc_predict(method, x, samples=samples, seed=2, precision="bf16")
    assert full.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0, atol=2e-2)
    with pytest.raises(ValueError, match="precision must be"):
        mc_predict(method, x, precision="fp8")


def test_grouped_layout_under_bf16_autocast_matches_fp32():
    """The grouped DropConnect layout (the GPU default) on bf16 folded weights draws the same
    samples as in float32, to bf16 rounding."""
    net = _net("dropconnect", "all")
    x = _images(5)
    with torch.inference_mode():
        full = engine.dropconnect_samples(
            net, x, 3, torch.Generator().manual_seed(4), layout="grouped"
        )
        with torch.autocast("cpu", torch.bfloat16):
            half = engine.dropconnect_samples(
                net, x, 3, torch.Generator().manual_seed(4), layout="grouped"
            )
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float().softmax(-1), full.softmax(-1), rtol=0, atol=2e-2)
