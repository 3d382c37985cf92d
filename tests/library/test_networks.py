"""FaceCNN and NetworkConfig: shapes, sizes, where the stochastic layers sit, split forward."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from helpers.nets import randomise_batchnorm, tiny_config, tiny_network
from torch import nn

from bnnfer.constants import NUM_CLASSES
from bnnfer.models import networks
from bnnfer.models.layers import (
    DropConnectConv2d,
    DropConnectLinear,
    SampledChannelDropout,
    SampledDropout,
    StochasticLayer,
)
from bnnfer.models.networks import (
    FaceCNN,
    NetworkConfig,
    count_parameters,
    run_layers,
    with_placement,
)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed))


ALL_CONFIGS = [
    tiny_config(kind, placement=placement, family=family)
    for family in ("vgg", "separable")
    for kind in ("dropout", "dropconnect", "none")
    for placement in ("all", "last", "head")
]


def _config_id(config: NetworkConfig) -> str:
    return f"{config.family}-{config.stochastic}-{config.placement}"


# --------------------------------------------------------------------------------------
# shapes and sizes


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=_config_id)
def test_output_shape_is_batch_by_classes(config: NetworkConfig) -> None:
    """(B, 1, 48, 48) -> (B, 8) logits, deterministic and stochastic."""
    net = FaceCNN(config).eval()
    x = _images(3)
    with torch.no_grad():
        assert net(x).shape == (3, NUM_CLASSES)
        assert net(x, stochastic=True, generator=torch.Generator().manual_seed(0)).shape == (
            3,
            NUM_CLASSES,
        )


@pytest.mark.parametrize("widths", [(4,), (4, 8, 16, 32, 64)])
def test_one_to_five_stages_and_linear_head(widths: tuple[int, ...]) -> None:
    """Any stage count 1..5 fits 48x48; head_width=0 gives a single linear layer."""
    net = tiny_network(widths=widths, head_width=0)
    assert sum(isinstance(m, nn.Linear) for m in net.layers) == 1
    with torch.no_grad():
        assert net(_images(2)).shape == (2, NUM_CLASSES)


def test_parameter_count_matches_hand_count() -> None:
    """widths (4, 8), 1 conv/stage, head 8, 8 classes: 36+8 + 288+16 + 72 + 72 = 492.

    conv 3x3 without bias (1*4*9, 4*8*9), BN weight+bias per channel, two linear layers
    with bias (8*8+8 each). DropConnect adds no parameters.
    """
    assert count_parameters(tiny_network()) == 492
    assert count_parameters(tiny_network("dropconnect")) == 492
    assert count_parameters(tiny_network("none")) == 492


def test_separable_parameter_count_matches_hand_count() -> None:
    """Separable, widths (4, 8), 1 conv/stage, head 8: 36+8 + 36+32+16 + 72 + 72 = 272.

    The first conv is a plain 3x3 one (1*4*9); the second a depthwise 3x3 (4*9) then a
    pointwise 1x1 (4*8); BN weight+bias per channel; the head as in the VGG family.
    """
    for kind in ("dropout", "dropconnect", "none"):
        assert count_parameters(tiny_network(kind, family="separable")) == 272


def test_separable_network_at_the_bundle_widths_has_0_17_m_parameters() -> None:
    """widths (32, 64, 128, 256), 2 convs/stage, head 128: 172,520 parameters.

    Convs: 288 (plain) + 288+1024 + 288+2048 + 576+4096 + 576+8192 + 1152+16384 + 1152+32768
    + 2304+65536 = 136,672 (depthwise 9*C_in, pointwise C_in*C_out); BatchNorm 2 * 960 =
    1,920; head 256*128+128 + 128*8+8 = 33,928.
    """
    config = NetworkConfig(family="separable", head_width=128)
    assert count_parameters(FaceCNN(config)) == 172_520


def test_separable_family_layers() -> None:
    """Depthwise then pointwise convs after a plain first one, Leaky ReLU everywhere, channel
    dropout after the pooled stages and element-wise dropout in the head; DropConnect masks
    the plain and pointwise convs, never the depthwise ones."""
    net = tiny_network(family="separable", convs_per_stage=2)
    convs = [m for m in net.layers if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size, m.groups) for m in convs] == [
        ((3, 3), 1),
        ((3, 3), 4),
        ((1, 1), 1),
        ((3, 3), 4),
        ((1, 1), 1),
        ((3, 3), 8),
        ((1, 1), 1),
    ]
    assert not any(type(m) is nn.ReLU for m in net.layers)
    assert sum(isinstance(m, nn.LeakyReLU) for m in net.layers) == 5
    kinds = [type(m) for m in net.stochastic_layers]
    assert kinds == [SampledChannelDropout, SampledChannelDropout, SampledDropout, SampledDropout]
    masked = tiny_network("dropconnect", family="separable", convs_per_stage=2)
    dropconnect = [m for m in masked.layers if isinstance(m, DropConnectConv2d)]
    assert [m.kernel_size for m in dropconnect] == [(3, 3), (1, 1), (1, 1), (1, 1)]
    assert all(m.groups == 1 for m in dropconnect)
    assert all(m.groups == 1 for m in tiny_network().layers if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("family", ["vgg", "separable"])
def test_a_seed_draws_exactly_the_layers_initial_weights(family: str) -> None:
    """Building a network draws from torch's generator what resetting its layers in order
    draws, and nothing else (no module built and thrown away), so a seed gives the VGG family
    the initial weights it gave before the separable family existed."""
    torch.manual_seed(0)
    net = FaceCNN(tiny_config(family=family, convs_per_stage=2))
    built = torch.get_rng_state()
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(0)
    for layer in net.layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.reset_parameters()
    assert torch.equal(torch.get_rng_state(), built)
    for key, value in net.state_dict().items():
        assert torch.equal(value, initial[key]), key


def test_parameter_count_grows_with_widths() -> None:
    """Wider stages (and more of them) mean strictly more parameters."""
    counts = [
        count_parameters(tiny_network(widths=w)) for w in [(4,), (4, 8), (8, 16), (8, 16, 32)]
    ]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts)


def test_num_classes_is_configurable() -> None:
    """num_classes sets the logit width."""
    net = tiny_network(num_classes=3)
    with torch.no_grad():
        assert net(_images(2)).shape == (2, 3)


# --------------------------------------------------------------------------------------
# placement of the stochastic layers


# In the separable family the tiny network (VGG layout below) has a depthwise conv before
# its second, pointwise conv:
#   dropout:     norm conv bn act pool [cdrop] dw pw bn act pool [cdrop] avg flat
#                drop lin act drop lin
#   dropconnect: norm [conv] bn act pool dw [pw] bn act pool avg flat [lin] act [lin]
# so its trunk is one layer longer wherever the trunk passes that depthwise conv
SEPARABLE_TRUNK = {
    ("dropout", "last"): 10,
    ("dropout", "head"): 12,
    ("dropconnect", "last"): 6,
    ("dropconnect", "head"): 12,
}


# For the tiny network (2 stages, 1 conv each, head 8) the flat layer list is
#   dropout:     norm conv bn relu pool [drop] conv bn relu pool [drop] avg flat
#                drop lin relu drop lin
#   dropconnect: norm [conv] bn relu pool [conv] bn relu pool avg flat [lin] relu [lin]
@pytest.mark.parametrize(
    ("kind", "placement", "n_stochastic", "trunk", "layer_type"),
    [
        ("dropout", "all", 4, 5, SampledDropout),
        ("dropout", "last", 3, 9, SampledDropout),
        ("dropout", "head", 2, 11, SampledDropout),
        ("dropconnect", "all", 4, 1, (DropConnectConv2d, DropConnectLinear)),
        ("dropconnect", "last", 3, 5, (DropConnectConv2d, DropConnectLinear)),
        ("dropconnect", "head", 2, 11, DropConnectLinear),
    ],
)
@pytest.mark.parametrize("family", ["vgg", "separable"])
def test_placement_sets_stochastic_layers_and_trunk_length(
    kind: str, placement: str, n_stochastic: int, trunk: int, layer_type: type, family: str
) -> None:
    """Number/kind of stochastic layers per placement; trunk = index of the first of them."""
    if family == "separable":
        trunk = SEPARABLE_TRUNK.get((kind, placement), trunk)
    net = tiny_network(kind, placement=placement, family=family)
    stochastic = net.stochastic_layers
    assert len(stochastic) == n_stochastic
    assert all(isinstance(m, layer_type) for m in stochastic)
    assert net.trunk_length == trunk
    first = next(i for i, m in enumerate(net.layers) if isinstance(m, StochasticLayer))
    assert net.trunk_length == first
    assert not any(isinstance(m, StochasticLayer) for m in net.layers[:trunk])


def test_layer_rates_follow_block_and_head_rate() -> None:
    """Stage layers use block_rate and head layers use head_rate."""
    net = tiny_network("dropconnect", block_rate=0.1, head_rate=0.3)
    convs = [m for m in net.layers if isinstance(m, DropConnectConv2d)]
    linears = [m for m in net.layers if isinstance(m, DropConnectLinear)]
    assert [m.p for m in convs] == [0.1, 0.1]
    assert [m.p for m in linears] == [0.3, 0.3]
    net = tiny_network("dropout", block_rate=0.1, head_rate=0.3)
    assert [m.p for m in net.stochastic_layers] == [0.1, 0.1, 0.3, 0.3]


@pytest.mark.parametrize("placement", ["all", "last", "head"])
def test_stochastic_none_has_no_stochastic_layers(placement: str) -> None:
    """stochastic='none': nothing random anywhere, trunk covers the whole network."""
    net = tiny_network("none", placement=placement)
    assert net.stochastic_layers == []
    assert not any(isinstance(m, StochasticLayer) for m in net.layers)
    assert net.trunk_length == len(net.layers)
    x = _images(2)
    with torch.no_grad():
        assert torch.equal(net(x, stochastic=True, generator=torch.Generator()), net(x))


def test_zero_rate_layers_do_not_count_as_stochastic() -> None:
    """Dropout with block_rate=0: the p=0 stage layers exist but the trunk runs to the head."""
    net = tiny_network("dropout", placement="all", block_rate=0.0)
    assert len(net.stochastic_layers) == 2  # the two head dropouts
    # norm conv bn relu pool drop(0) conv bn relu pool drop(0) avg flat | drop(0.5) ...
    assert net.trunk_length == 13
    assert isinstance(net.layers[13], SampledDropout) and net.layers[13].p == 0.5


# --------------------------------------------------------------------------------------
# forward semantics


def test_stochastic_none_argument_follows_training_mode() -> None:
    """forward(stochastic=None) samples in train mode and not in eval mode."""
    net = tiny_network("dropout", head_rate=0.5)
    randomise_batchnorm(net)
    x = _images(4)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x, stochastic=False))
    # train mode: BN uses batch statistics, so compare against an explicit stochastic=True call
    net.train()
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(0)
    b = net(x, stochastic=True)
    torch.manual_seed(0)
    c = net(x, stochastic=False)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=_config_id)
def test_split_layer_list_equals_full_forward(config: NetworkConfig) -> None:
    """Running layers ``[:k]`` then ``[k:]`` (how the MC engine splits off its trunk) equals
    forward(), for every 0 <= k <= len(layers): the input is normalised exactly once.

    Also with sampling: one generator carried across the two halves draws the same masks
    as a fresh generator with the same seed over the full pass.
    """
    net = FaceCNN(config).eval()
    randomise_batchnorm(net)
    layers = list(net.layers)
    x = _images(2)
    with torch.no_grad():
        full = net(x)
        full_sampled = net(x, stochastic=True, generator=torch.Generator().manual_seed(5))
        for k in range(len(layers) + 1):
            split = run_layers(layers[k:], run_layers(layers[:k], x))
            torch.testing.assert_close(split, full, rtol=0, atol=0, msg=f"k={k}")
            g = torch.Generator().manual_seed(5)
            head = run_layers(layers[:k], x, stochastic=True, generator=g)
            split_sampled = run_layers(layers[k:], head, stochastic=True, generator=g)
            torch.testing.assert_close(split_sampled, full_sampled, rtol=0, atol=0)
    if config.stochastic == "dropconnect" and config.placement == "all":
        assert net.trunk_length == 1  # the trunk is the pixel normalisation alone


def test_forward_normalises_pixels_inside_the_network() -> None:
    """The network standardises [0, 1] pixels itself: a constant image at the pixel mean
    reaches the first conv as zeros, so the first conv (no bias) outputs exactly zero."""
    net = tiny_network()
    x = torch.full((1, 1, 48, 48), networks._PIXEL_MEAN)
    with torch.no_grad():
        normalised = net.layers[0](x)
        assert torch.count_nonzero(normalised) == 0
        assert torch.count_nonzero(net.layers[1](normalised)) == 0


# --------------------------------------------------------------------------------------
# config validation and serialisation


@pytest.mark.parametrize(
    "overrides",
    [
        {"widths": (4, -8)},
        {"widths": (0,)},
        {"widths": ()},
        {"widths": (4, 4, 4, 4, 4, 4)},
        {"convs_per_stage": 0},
        {"head_width": -1},
        {"stochastic": "gaussian"},
        {"placement": "first"},
        {"block_rate": 1.0},
        {"head_rate": 1.0},
        {"head_rate": -0.1},
        {"num_classes": 1},
        {"family": "resnet"},
    ],
    ids=repr,
)
def test_bad_config_raises_value_error(overrides: dict[str, object]) -> None:
    """Every invalid field is refused at construction."""
    with pytest.raises(ValueError):
        tiny_config(**overrides)


@pytest.mark.parametrize("family", ["vgg", "separable"])
def test_config_to_dict_from_dict_round_trip(family: str) -> None:
    """to_dict is JSON-friendly (widths as a list) and from_dict restores an equal config.
    ``family`` is written only away from its default, so that the configs of networks trained
    before it existed still compare equal."""
    config = tiny_config(
        "dropconnect", placement="last", block_rate=0.1, head_rate=0.3, family=family
    )
    d = config.to_dict()
    assert d["widths"] == [4, 8]
    every = {f.name for f in dataclasses.fields(NetworkConfig)}
    assert set(d) == (every if family == "separable" else every - {"family"})
    back = NetworkConfig.from_dict(json.loads(json.dumps(d)))
    assert back == config
    assert isinstance(back.widths, tuple)


def test_config_from_dict_refuses_unknown_keys() -> None:
    """An unknown key is an error naming the key, not silently ignored."""
    d = {**tiny_config().to_dict(), "dropout_everywhere": True}
    with pytest.raises(ValueError, match="dropout_everywhere"):
        NetworkConfig.from_dict(d)


def test_config_from_partial_dict_uses_defaults() -> None:
    """Missing keys take the dataclass defaults."""
    assert NetworkConfig.from_dict({"widths": [4, 8]}) == NetworkConfig(widths=(4, 8))


def test_config_is_frozen() -> None:
    """A config cannot be changed after a network was built from it."""
    config = tiny_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.head_width = 16  # type: ignore[misc]


@pytest.mark.parametrize("family", ["vgg", "separable"])
@pytest.mark.parametrize("kind", ["dropout", "dropconnect"])
def test_placement_variants_switch_off_the_early_stochastic_layers(kind, family):
    net = tiny_network(kind, widths=(4, 8, 8), family=family).train()
    counts = {p: len(with_placement(net, p).stochastic_layers) for p in ("all", "last", "head")}
    assert counts["all"] > counts["last"] > counts["head"] == 2
    head = with_placement(net, "head")
    assert head.trunk_length > with_placement(net, "last").trunk_length
    assert len(net.stochastic_layers) == counts["all"]  # the original is untouched
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():  # deterministic passes agree: only sampling changes
        assert head.training == net.training  # the mode is kept, not switched
        torch.testing.assert_close(head.eval()(x), net.eval()(x))
    with pytest.raises(ValueError, match="placement must be"):
        with_placement(net, "middle")
    with pytest.raises(ValueError, match="cannot sample 'all'"):
        with_placement(head, "all")  # narrowing only
    assert len(with_placement(head, "head").stochastic_layers) == 2
    with pytest.raises(ValueError, match="no stochastic layers"):
        with_placement(tiny_network("none", widths=(4,)), "head")
    assert with_placement(net, "last").config.family == family
