"""The MC sampling engine: S samples of a network as a few large passes instead of S small ones.

Two paths, both starting from the deterministic trunk (the layers before the first stochastic
one), computed once per image and shared by every sample:

* dropout (`dropout_samples`): masks are per element, so the S copies of the trunk's output are
  stacked into one ``(s * B, ...)`` batch (``s`` samples at a time, bounded by ``max_rows``);
* DropConnect (`dropconnect_samples`): one weight mask per sample, shared by the batch. All S
  masked weights are stacked and the rest of the network runs in a *sample-grouped* layout:
  conv features ``(B, S * C, H, W)`` through grouped convolutions (``groups = S``), BatchNorm
  with its running statistics tiled S times, and flat features ``(S, B, F)`` through batched
  matrix products. The masks are drawn sample by sample in layer order, exactly as S separate
  passes would draw them, so the same seed gives the same samples as `naive_samples`.

`naive_samples` is the reference: S separate full passes of the network over the batch.
All functions return logits ``(S, B, C)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .layers import DropConnectConv2d, DropConnectLinear, MCDropout, StochasticLayer, _keep_mask
from .networks import FaceCNN

MAX_ROWS = 2048  # images x samples per forward pass: bounds activation memory


def naive_samples(
    network: FaceCNN, x: torch.Tensor, samples: int, generator: torch.Generator | None
) -> torch.Tensor:
    """S separate stochastic passes of the whole network: ``(S, B, C)`` logits."""
    return torch.stack([network(x, stochastic=True, generator=generator) for _ in range(samples)])


def dropout_samples(
    network: FaceCNN,
    x: torch.Tensor,
    samples: int,
    generator: torch.Generator | None,
    max_rows: int | None = None,
) -> torch.Tensor:
    """MC-Dropout: shared trunk, then the samples as ``(s * B, ...)`` batches."""
    max_rows = max_rows or MAX_ROWS
    trunk_end = network.trunk_length
    features = network(x, stochastic=False, stop=trunk_end)  # (B, ...)
    batch = x.shape[0]
    chunk = max(1, max_rows // max(1, batch))
    parts = []
    for first in range(0, samples, chunk):
        s = min(chunk, samples - first)
        repeated = features.unsqueeze(0).expand(s, *features.shape)
        repeated = repeated.reshape(s * batch, *features.shape[1:])
        out = network(repeated, stochastic=True, generator=generator, start=trunk_end)
        parts.append(out.reshape(s, batch, -1))
    return torch.cat(parts)


def _draw_weights(
    layers: list[nn.Module], samples: int, generator: torch.Generator | None
) -> dict[int, torch.Tensor]:
    """Masked, rescaled weights ``(S, *weight.shape)`` per DropConnect layer (by position),
    drawn sample-major in layer order, as S separate passes would draw them."""
    stochastic = [
        (i, layer) for i, layer in enumerate(layers)
        if isinstance(layer, (DropConnectConv2d, DropConnectLinear)) and layer.p > 0
    ]  # fmt: skip
    drawn: dict[int, list[torch.Tensor]] = {i: [] for i, _ in stochastic}
    for _ in range(samples):
        for i, layer in stochastic:
            drawn[i].append(layer.weight * _keep_mask(layer.weight, layer.p, generator))
    return {i: torch.stack(ws) for i, ws in drawn.items()}


def _grouped_rest(
    layers: list[nn.Module], start: int, h: torch.Tensor, samples: int, weights: dict
) -> torch.Tensor:
    """Run ``layers[start:]`` on the shared features ``h`` ``(B, ...)`` in the sample-grouped
    layout; returns logits ``(S, B, C)``."""
    grouped = False  # conv features: (B, C, H, W) shared -> (B, S * C, H, W) grouped
    flat = h.dim() == 2  # flat features: (B, F) shared -> (S, B, F)
    if flat:
        h = h.unsqueeze(0).expand(samples, *h.shape)
    for i in range(start, len(layers)):
        layer = layers[i]
        if isinstance(layer, nn.Conv2d):
            weight = (
                weights[i] if i in weights else layer.weight.expand(samples, *layer.weight.shape)
            )
            stacked = weight.reshape(-1, *layer.weight.shape[1:])  # (S * C_out, C_in, k, k)
            bias = None if layer.bias is None else layer.bias.repeat(samples)
            h = F.conv2d(h, stacked, bias, layer.stride, layer.padding, layer.dilation,
                         groups=samples if grouped else 1)  # fmt: skip
            grouped = True
        elif isinstance(layer, nn.BatchNorm2d):
            if grouped:
                h = F.batch_norm(
                    h, layer.running_mean.repeat(samples), layer.running_var.repeat(samples),
                    layer.weight.repeat(samples), layer.bias.repeat(samples),
                    training=False, eps=layer.eps,
                )  # fmt: skip
            else:
                h = layer(h)
        elif isinstance(layer, nn.Flatten):
            h = layer(h)
            if grouped:  # (B, S * F) -> (S, B, F)
                h = h.reshape(h.shape[0], samples, -1).transpose(0, 1)
            else:
                h = h.unsqueeze(0).expand(samples, *h.shape)
            flat = True
        elif isinstance(layer, nn.Linear):
            if not flat:
                raise ValueError("a linear layer before the features were flattened")
            weight = (
                weights[i] if i in weights else layer.weight.expand(samples, *layer.weight.shape)
            )
            h = torch.bmm(h, weight.transpose(1, 2))  # (S, B, in) @ (S, in, out)
            if layer.bias is not None:
                h = h + layer.bias
        elif isinstance(layer, (MCDropout, StochasticLayer)):
            raise ValueError("the grouped DropConnect path takes DropConnect networks only")
        else:  # ReLU, pooling: elementwise or per channel, layout-agnostic
            h = layer(h)
    if not flat:
        raise ValueError("the network never flattened its features")
    return h


def dropconnect_samples(
    network: FaceCNN,
    x: torch.Tensor,
    samples: int,
    generator: torch.Generator | None,
    max_rows: int | None = None,
) -> torch.Tensor:
    """MC-DropConnect: shared trunk, all S weight samples in one grouped pass per batch chunk
    (the same weights for every chunk: one weight sample is shared by the whole batch)."""
    max_rows = max_rows or MAX_ROWS
    layers = list(network.layers)
    trunk_end = network.trunk_length
    weights = _draw_weights(layers, samples, generator)
    batch = x.shape[0]
    chunk = max(1, max_rows // max(1, samples))
    parts = []
    for first in range(0, batch, chunk):
        h = network(x[first : first + chunk], stochastic=False, stop=trunk_end)
        parts.append(_grouped_rest(layers, trunk_end, h, samples, weights))
    return torch.cat(parts, dim=1)
