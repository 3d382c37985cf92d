"""The CNN backbone for 48x48 grayscale faces and its config.

Two families of the same outline, chosen by ``family``: ``len(widths)`` stages, each
``convs_per_stage`` convolutions then 2x2 max-pooling, then a head (global average pool, one
hidden layer, 8 logits)::

    (B, 1, 48, 48) -> stage 0 -> (B, w0, 24, 24) -> ... -> (B, w_last, 48 / 2^k, ...)
                   -> avgpool -> (B, w_last) -> hidden (B, head_width) -> logits (B, 8)

* ``"vgg"`` (every bundled network): each convolution is 3x3 conv, BatchNorm, ReLU; the
  stochastic stages end in element-wise dropout.
* ``"separable"``: a small network of depthwise-separable convolutions (Chollet, 2017) after a
  plain 3x3 first convolution: each is a 3x3 depthwise conv (one filter per channel), a 1x1
  pointwise conv, BatchNorm, Leaky ReLU; the stochastic stages end in channel (spatial)
  dropout, which drops whole feature maps. The default widths make 0.17 M parameters with a
  128-unit head (the VGG family: 1.24 M). DropConnect masks its plain and pointwise convs and
  its linear layers; the depthwise convs (9 weights a channel) stay deterministic.

Which layers are stochastic is part of the config: ``stochastic`` picks the kind (dropout
after each pooled stage and before each head layer, DropConnect on the conv and linear
weights, or none) and ``placement`` where (every stage and the head, the last stage and the
head, or the head only). The layers run as one flat list, so the deterministic prefix before
the first stochastic layer is well defined (`trunk_length`): MC inference can compute it once
per image and reuse it for every sample.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn

from ..constants import NUM_CLASSES, PLACEMENTS
from .layers import (
    DropConnectConv2d,
    DropConnectLinear,
    SampledChannelDropout,
    SampledDropout,
    StochasticLayer,
)

# FER2013 pixel statistics on [0, 1]; normalising inside the network keeps every caller's
# preprocessing to "uint8 / 255".
_PIXEL_MEAN, _PIXEL_STD = 0.507, 0.255

Stochastic = Literal["dropout", "dropconnect", "none"]
Placement = Literal["all", "last", "head"]
STOCHASTIC_KINDS: tuple[str, ...] = ("dropout", "dropconnect", "none")
Family = Literal["vgg", "separable"]
FAMILIES: tuple[str, ...] = ("vgg", "separable")
# the separable family's Leaky ReLU: the slope for negative inputs
LEAKY_SLOPE = 0.1


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the backbone and where its randomness sits."""

    # The "help" of each field is its `bnnfer train` option's help line (bnnfer/cli.py).
    widths: tuple[int, ...] = field(
        default=(32, 64, 128, 256),
        metadata={"help": "channels per stage; each stage halves H, W"},
    )
    convs_per_stage: int = field(
        default=2, metadata={"help": "3x3 conv + BN + ReLU repeats per stage"}
    )
    head_width: int = field(
        default=256, metadata={"help": "hidden units before the logits; 0 for a linear head"}
    )
    stochastic: Stochastic = field(default="dropout", metadata={"help": "kind of stochastic layer"})
    placement: Placement = field(
        default="all", metadata={"help": "which stages (besides the head) are stochastic"}
    )
    block_rate: float = field(
        default=0.2, metadata={"help": "drop probability in stochastic stages"}
    )
    head_rate: float = field(default=0.5, metadata={"help": "drop probability in the head"})
    num_classes: int = field(
        default=NUM_CLASSES, metadata={"help": "number of logits (the 8 FER+ emotions)"}
    )
    family: Family = field(
        default="vgg",
        metadata={
            "help": "vgg: 3x3 conv + BN + ReLU, element-wise dropout; separable: depthwise-"
            "separable convs, Leaky ReLU, channel dropout"
        },
    )

    def __post_init__(self) -> None:
        for name in ("convs_per_stage", "head_width", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        widths = tuple(self.widths)
        if any(isinstance(w, bool) or not isinstance(w, int) for w in widths):
            raise ValueError(f"widths must be integers, got {self.widths!r}")
        object.__setattr__(self, "widths", widths)
        if not self.widths or any(w <= 0 for w in self.widths):
            raise ValueError(f"widths must be positive channel counts, got {self.widths}")
        if len(self.widths) > 5:
            raise ValueError(f"at most 5 stages fit a 48x48 input, got {len(self.widths)}")
        if self.convs_per_stage < 1:
            raise ValueError(f"convs_per_stage must be >= 1, got {self.convs_per_stage}")
        if self.head_width < 0:
            raise ValueError(f"head_width must be >= 0, got {self.head_width}")
        if self.stochastic not in STOCHASTIC_KINDS:
            raise ValueError(
                f"stochastic must be one of {STOCHASTIC_KINDS}, got {self.stochastic!r}"
            )
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        for name in ("block_rate", "head_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON dict; ``family`` only when not ``"vgg"``, so that the configs of networks
        trained before it existed (bundle jobs, resumable states) still match."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        if d["family"] == "vgg":
            del d["family"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkConfig:
        """Build from a JSON dict, refusing keys this version does not know."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown network config key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def stage_is_stochastic(self, stage: int) -> bool:
        if self.stochastic == "none":
            return False
        if self.placement == "all":
            return True
        if self.placement == "last":
            return stage == len(self.widths) - 1
        return False


class PixelNormalize(nn.Module):
    """``(x - mean) / std`` with FER2013's pixel statistics: a layer, so that any split of the
    layer list (the MC engine's trunk and rest) normalises exactly once."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - _PIXEL_MEAN) / _PIXEL_STD


class FaceCNN(nn.Module):
    """Backbone: float ``(B, 1, 48, 48)`` in [0, 1] -> logits ``(B, num_classes)``."""

    def __init__(self, config: NetworkConfig = NetworkConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [PixelNormalize()]
        in_channels = 1
        for stage, width in enumerate(config.widths):
            stochastic_stage = config.stage_is_stochastic(stage)
            for _ in range(config.convs_per_stage):
                layers += _conv_block(config, in_channels, width, stochastic_stage)
                in_channels = width
            layers.append(nn.MaxPool2d(2))
            if stochastic_stage and config.stochastic == "dropout":
                spatial = config.family == "separable"
                layers.append(
                    (SampledChannelDropout if spatial else SampledDropout)(config.block_rate)
                )
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        head_sizes = [in_channels, config.head_width] if config.head_width else [in_channels]
        head_sizes.append(config.num_classes)
        for i, (n_in, n_out) in enumerate(itertools.pairwise(head_sizes)):
            if config.stochastic == "dropout":
                layers.append(SampledDropout(config.head_rate))
            if config.stochastic == "dropconnect":
                layers.append(DropConnectLinear(n_in, n_out, p=config.head_rate))
            else:
                layers.append(nn.Linear(n_in, n_out))
            if i < len(head_sizes) - 2:
                layers.append(_activation(config))
        self.layers = nn.ModuleList(layers)
        # channels-last conv weights make every convolution run channels-last on any input
        # (a (B, 1, H, W) input is ambiguous, so the weights decide): oneDNN's faster layout on
        # a CPU, and what tensor cores want on a GPU
        self.to(memory_format=torch.channels_last)

    @property
    def trunk_length(self) -> int:
        """Number of leading layers with no randomness (computed once per image in MC)."""
        return trunk_length(self.layers)

    @property
    def stochastic_layers(self) -> list[StochasticLayer]:
        return [m for m in self.layers if isinstance(m, StochasticLayer) and m.p > 0]

    def forward(
        self,
        x: torch.Tensor,
        stochastic: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Pixels ``(B, 1, 48, 48)`` in [0, 1] -> logits ``(B, num_classes)``.

        Args:
            stochastic: sample the stochastic layers; None means "when in training mode".
            generator: the random source for the masks (None: torch's global one).
        """
        if stochastic is None:
            stochastic = self.training
        return run_layers(self.layers, x, stochastic, generator)


def _activation(config: NetworkConfig) -> nn.Module:
    if config.family == "separable":
        return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
    return nn.ReLU(inplace=True)


def _conv_block(
    config: NetworkConfig, in_channels: int, out_channels: int, stochastic: bool
) -> list[nn.Module]:
    """One convolution of a stage, ``(B, in, H, W) -> (B, out, H, W)``, then BatchNorm and the
    family's activation: a 3x3 conv (the VGG family; the separable family's first layer, whose
    one input channel has nothing to separate) or a 3x3 depthwise then a 1x1 pointwise conv.
    ``stochastic``: the (pointwise) conv is a DropConnect one when the config's kind is
    DropConnect. Modules are built in layer order, so a seed draws the same initial weights."""
    separate = config.family == "separable" and in_channels > 1
    layers: list[nn.Module] = []
    if separate:
        layers.append(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        )
    kernel = 1 if separate else 3
    if stochastic and config.stochastic == "dropconnect":
        conv: nn.Module = DropConnectConv2d(
            in_channels, out_channels, kernel, padding=kernel // 2, bias=False, p=config.block_rate
        )
    else:
        conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)
    return [*layers, conv, nn.BatchNorm2d(out_channels), _activation(config)]


def trunk_length(layers: Sequence[nn.Module]) -> int:
    """Number of leading ``layers`` with no randomness (no stochastic layer of p > 0)."""
    for i, layer in enumerate(layers):
        if isinstance(layer, StochasticLayer) and layer.p > 0:
            return i
    return len(layers)


def run_layers(
    layers: Sequence[nn.Module],
    x: torch.Tensor,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``x`` through ``layers`` in order, the stochastic ones sampled when ``stochastic``: a
    network's forward, or any slice of its layer list (the MC engine's trunk and rest)."""
    for layer in layers:
        if isinstance(layer, StochasticLayer):
            x = layer(x, stochastic=stochastic, generator=generator)
        else:
            x = layer(x)
    return x


def with_placement(network: FaceCNN, placement: str) -> FaceCNN:
    """A copy of ``network`` sampling only the stochastic layers of ``placement``: the others
    get p = 0 (their expectation), so MC inference can sample the last stage and the head, or
    the head only, of weights trained with stochastic layers everywhere. Far cheaper (the
    deterministic trunk runs once per image) at a small cost in uncertainty quality (README,
    Speed). It can only narrow: a network trained with fewer stochastic layers than asked for
    is refused."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    config = network.config
    if config.stochastic == "none":
        raise ValueError("the network has no stochastic layers to place")
    width = {"head": 0, "last": 1, "all": 2}
    if width[placement] > width[config.placement]:
        raise ValueError(
            f"the network was trained with stochastic layers in placement {config.placement!r}; "
            f"it cannot sample {placement!r}, which has more"
        )
    copied = copy.deepcopy(network)
    # the last stage's layers start after the last-but-one pooling layer
    pools = [i for i, m in enumerate(copied.layers) if isinstance(m, nn.MaxPool2d)]
    head_start = next(i for i, m in enumerate(copied.layers) if isinstance(m, nn.Flatten))
    keep_from = {"all": 0, "last": pools[-2] + 1 if len(pools) > 1 else 0, "head": head_start}
    for i, layer in enumerate(copied.layers):
        if isinstance(layer, StochasticLayer) and i < keep_from[placement]:
            layer.p = 0.0
    copied.config = NetworkConfig.from_dict({**config.to_dict(), "placement": placement})
    return copied


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
