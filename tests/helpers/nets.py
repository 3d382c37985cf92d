"""The tiny networks the tests run, built in one place.

`tiny_network` is a `FaceCNN` of two stages (4 and 8 channels, one conv each) and an 8-unit
head: 492 parameters, a forward pass in well under a millisecond on one CPU core. Tests that
need other shapes pass `NetworkConfig` fields as overrides. Tests import it as
``from helpers.nets import tiny_network`` (tests/ is on ``sys.path``: pytest's ``pythonpath``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from bnnfer.models.networks import FaceCNN, NetworkConfig

TINY = {"widths": (4, 8), "convs_per_stage": 1, "head_width": 8}

# the BatchNorm tensors `randomise_batchnorm` can draw, in the order it draws them
BATCHNORM_TENSORS = ("running_mean", "running_var", "weight", "bias")


def tiny_config(stochastic: str = "dropout", **overrides: object) -> NetworkConfig:
    """The tiny `NetworkConfig`, with ``overrides`` (any `NetworkConfig` field) applied."""
    return NetworkConfig(**{**TINY, "stochastic": stochastic, **overrides})  # type: ignore[arg-type]


def tiny_network(
    stochastic: str = "dropout",
    seed: int | None = None,
    *,
    batchnorm: Iterable[str] = (),
    head_scale: float = 1.0,
    **overrides: object,
) -> FaceCNN:
    """A `FaceCNN` of `tiny_config(stochastic, **overrides)` in eval mode.

    Args:
        seed: seeds torch's global generator before the weights are drawn, so the same seed
            gives the same network; None draws from the global generator as it stands.
        batchnorm: which of `BATCHNORM_TENSORS` to randomise (`randomise_batchnorm` with
            seed ``seed + 100``), so that eval-mode BatchNorm is not nearly the identity.
        head_scale: multiplies the last linear layer's weights; 4 spreads the probabilities
            out so that sampling is visible.
    """
    if seed is not None:
        torch.manual_seed(seed)
    net = FaceCNN(tiny_config(stochastic, **overrides))
    batchnorm = tuple(batchnorm)
    if batchnorm:
        randomise_batchnorm(net, (seed or 0) + 100, batchnorm)
    if head_scale != 1.0:
        with torch.no_grad():
            [m for m in net.layers if isinstance(m, nn.Linear)][-1].weight.mul_(head_scale)
    return net.eval()


def randomise_batchnorm(
    net: nn.Module, seed: int = 0, tensors: Iterable[str] = BATCHNORM_TENSORS
) -> None:
    """Draw the chosen BatchNorm ``tensors`` of every BatchNorm layer from a generator seeded
    with ``seed``: running mean and bias ~ N(0, 0.2^2), running variance and weight ~ U(0.5, 1.5).
    """
    tensors = set(tensors)
    unknown = tensors - set(BATCHNORM_TENSORS)
    if unknown:
        raise ValueError(f"not a BatchNorm tensor: {sorted(unknown)}")
    g = torch.Generator().manual_seed(seed)
    draws = {
        "running_mean": lambda n: torch.randn(n, generator=g) * 0.2,
        "running_var": lambda n: 0.5 + torch.rand(n, generator=g),
        "weight": lambda n: 0.5 + torch.rand(n, generator=g),
        "bias": lambda n: torch.randn(n, generator=g) * 0.2,
    }
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                for name in BATCHNORM_TENSORS:
                    if name in tensors:
                        getattr(m, name).copy_(draws[name](m.num_features))
