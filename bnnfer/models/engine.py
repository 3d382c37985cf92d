"""The MC sampling engine: S samples of a network with the deterministic trunk computed once.

The engine runs `bnnfer.models.folding.inference_layers`: the network's layers with each eval-mode
BatchNorm folded into its convolution (and, under bf16 autocast, the weights cast to bf16
once). Both sampling paths start from the deterministic trunk (the layers before the first
stochastic one), computed once per image and shared by every sample:

* dropout (`dropout_samples`): masks are per element, so the S copies of the trunk's output are
  stacked into ``(s * B, ...)`` batches of at most ``max_rows`` rows;
* DropConnect (`dropconnect_samples`): one weight mask per sample, shared by the batch, drawn
  sample by sample in layer order exactly as S separate passes draw them, so the same seed
  gives the same samples as `naive_samples` (up to float rounding: folding reorders a product).
  Two layouts run the rest of the network: ``"grouped"`` stacks all S masked weights and runs
  conv features ``(B, S * C, H, W)`` through grouped convolutions (``groups = S``) and flat
  features ``(S, B, F)`` through batched matrix products; ``"looped"`` runs the rest once per
  weight sample with functional convolutions (no model copies).

Which pays depends on the device and the batch; the defaults below follow measurements
(`benchmarks/engine_settings.py`, figures in ``benchmarks/results/engine_settings-*.json`` and
docs/benchmarks.md):

* on a CPU, small passes keep their activations in cache and one grouped convolution is no
  faster than S plain ones: rows of 64, DropConnect always looped;
* on a GPU the grouped layout turns S small launches into one large one, which pays while one
  pass of the batch is too small to fill the device: rows of 4096, DropConnect grouped below
  256 images and looped from there.

`naive_samples` is the reference: S separate full passes of the network as it is (BatchNorm
unfolded) over the batch. ``fold=False`` runs the engine on the unfolded layers, to measure
what folding adds. All functions return logits ``(S, B, C)``, `deterministic` ``(B, C)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .folding import inference_layers
from .layers import DropConnectConv2d, DropConnectLinear, SampledDropout, StochasticLayer, drop
from .networks import FaceCNN, run_layers, trunk_length

# images x samples per forward pass, by device type: bounds activation memory; on a CPU small
# passes keep a pass's activations in cache
MAX_ROWS = {"cpu": 64, "other": 4096}
# DropConnect runs grouped for batches of fewer images than this, looped from it on, by device
# type (see the module docstring): never grouped on a CPU
GROUPED_BELOW = {"cpu": 0, "other": 256}


def for_device(table: dict, device: torch.device):
    """``table``'s entry for ``device`` (`MAX_ROWS`, `GROUPED_BELOW`): "cpu" or "other"."""
    return table["cpu" if device.type == "cpu" else "other"]


def dropconnect_layout(device: torch.device, batch: int) -> str:
    """The DropConnect layout for ``batch`` images on ``device``: ``"grouped"`` while one pass
    of the batch is too small to fill the device (`GROUPED_BELOW`), else ``"looped"``."""
    return "grouped" if batch < for_device(GROUPED_BELOW, device) else "looped"


def _layers(network: FaceCNN, device: torch.device, fold: bool) -> list[nn.Module]:
    """The layers the engine runs: folded (cast to the autocast dtype, if autocast is on), or
    the network's own."""
    if not fold:
        return list(network.layers)
    autocast = torch.is_autocast_enabled(device.type)
    return inference_layers(network, torch.get_autocast_dtype(device.type) if autocast else None)


def deterministic(network: FaceCNN, x: torch.Tensor, fold: bool = True) -> torch.Tensor:
    """One pass with every stochastic layer at its mean: logits ``(B, C)``."""
    return run_layers(_layers(network, x.device, fold), x)


def naive_samples(
    network: FaceCNN, x: torch.Tensor, samples: int, generator: torch.Generator | None
) -> torch.Tensor:
    """S separate stochastic passes of the whole network: ``(S, B, C)`` logits."""
    return torch.stack([network(x, stochastic=True, generator=generator) for _ in range(samples)])


def _run_trunk(
    trunk_layers: list[nn.Module], x: torch.Tensor, max_rows: int | None
) -> torch.Tensor:
    """The deterministic trunk's output ``(B, ...)``: ``x`` through ``trunk_layers`` (the layers
    before the first stochastic one) in chunks of at most ``max_rows`` images (default:
    `MAX_ROWS` for the device), as `dropout_samples` and `deterministic_and_trunk` both run it,
    so that either's trunk can stand in for the other's."""
    max_rows = max_rows or for_device(MAX_ROWS, x.device)
    return torch.cat(
        [run_layers(trunk_layers, x[i : i + max_rows]) for i in range(0, len(x), max_rows)]
    )


def deterministic_and_trunk(
    network: FaceCNN, sampled: FaceCNN, x: torch.Tensor, max_rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``network``'s deterministic logits ``(B, C)`` and, on the way, the trunk output of
    ``sampled`` (the same weights at a narrower placement, `bnnfer.models.networks.with_placement`):
    the trunk is run once for both. The logits equal `deterministic`'s up to float rounding
    (the trunk runs in chunks of ``max_rows`` images)."""
    sampled_layers = _layers(sampled, x.device, fold=True)
    end = trunk_length(sampled_layers)
    features = _run_trunk(sampled_layers[:end], x, max_rows)
    return run_layers(_layers(network, x.device, fold=True)[end:], features), features


def dropout_samples(
    network: FaceCNN,
    x: torch.Tensor,
    samples: int,
    generator: torch.Generator | None,
    max_rows: int | None = None,
    fold: bool = True,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """MC-Dropout: shared trunk, then the samples as ``(s * B, ...)`` batches of at most
    ``max_rows`` rows (default: `MAX_ROWS` for the device); a batch of more than ``max_rows``
    images runs in chunks of ``max_rows`` images. ``features``: the trunk output of ``x`` when
    the caller has it already (`deterministic_and_trunk`): the same samples, without running
    the trunk again."""
    max_rows = max_rows or for_device(MAX_ROWS, x.device)
    layers = _layers(network, x.device, fold)
    trunk_end = trunk_length(layers)
    if features is None:
        features = _run_trunk(layers[:trunk_end], x, max_rows)  # (B, ...)
    parts = []
    for i in range(0, x.shape[0], max_rows):  # chunks of images, each with all its samples
        chunk = features[i : i + max_rows]
        batch = chunk.shape[0]
        rows = max(1, max_rows // batch)
        drawn = []
        for first in range(0, samples, rows):
            s = min(rows, samples - first)
            repeated = chunk.unsqueeze(0).expand(s, *chunk.shape)
            repeated = repeated.reshape(s * batch, *chunk.shape[1:])
            out = run_layers(layers[trunk_end:], repeated, stochastic=True, generator=generator)
            drawn.append(out.reshape(s, batch, -1))
        parts.append(torch.cat(drawn))
    return torch.cat(parts, dim=1)


def _masked_layers(layers: list[nn.Module]) -> list[tuple[int, nn.Module, torch.Tensor]]:
    """``(position, layer, weight / (1 - p))`` per DropConnect layer: the rescaled weight is
    computed once per call, not once per sample."""
    return [
        (i, layer, layer.weight / (1.0 - layer.p))
        for i, layer in enumerate(layers)
        if isinstance(layer, (DropConnectConv2d, DropConnectLinear)) and layer.p > 0
    ]


def _draw_one(
    stochastic: list[tuple[int, nn.Module, torch.Tensor]], generator: torch.Generator | None
) -> dict[int, torch.Tensor]:
    """One weight sample: the masked, rescaled weight of each DropConnect layer, in layer order
    (the order one stochastic pass of the whole network draws them in)."""
    return {i: drop(layer.weight, layer.p, generator, scaled) for i, layer, scaled in stochastic}


def _draw_weights(
    layers: list[nn.Module], samples: int, generator: torch.Generator | None
) -> dict[int, torch.Tensor]:
    """Masked, rescaled weights ``(S, *weight.shape)`` per DropConnect layer (by position),
    drawn sample-major in layer order, as S separate passes would draw them."""
    stochastic = _masked_layers(layers)
    drawn = [_draw_one(stochastic, generator) for _ in range(samples)]
    return {i: torch.stack([d[i] for d in drawn]) for i, _, _ in stochastic}


def _looped_rest(
    layers: list[nn.Module],
    start: int,
    h: torch.Tensor,
    samples: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Run ``layers[start:]`` on the shared features ``h`` ``(B, ...)`` once per weight sample
    (drawn just before its pass); returns logits ``(S, B, C)``."""
    stochastic = _masked_layers(layers)
    outputs = []
    for _ in range(samples):
        weights = _draw_one(stochastic, generator)
        out = h
        for i in range(start, len(layers)):
            layer = layers[i]
            if i in weights and isinstance(layer, nn.Conv2d):
                out = F.conv2d(
                    out,
                    weights[i],
                    layer.bias,
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    layer.groups,
                )
            elif i in weights:
                out = F.linear(out, weights[i], layer.bias)
            else:  # deterministic layers; DropConnect layers with p = 0 use their weights
                out = layer(out)
        outputs.append(out)
    return torch.stack(outputs)


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
        if isinstance(layer, nn.Conv2d) and (grouped or i in weights):
            if not grouped and layer.groups != 1:
                raise ValueError("the grouped layout cannot mask a grouped (depthwise) conv")
            weight = (
                weights[i] if i in weights else layer.weight.expand(samples, *layer.weight.shape)
            )
            # (S * C_out, C_in / groups, k, k): sample s's filters are the s-th block of groups
            stacked = weight.reshape(-1, *layer.weight.shape[1:])
            bias = None if layer.bias is None else layer.bias.repeat(samples)
            h = F.conv2d(
                h,
                stacked,
                bias,
                layer.stride,
                layer.padding,
                layer.dilation,
                groups=samples * layer.groups if grouped else 1,
            )
            grouped = True
        elif isinstance(layer, nn.BatchNorm2d):
            if grouped:
                h = F.batch_norm(
                    h,
                    layer.running_mean.repeat(samples),
                    layer.running_var.repeat(samples),
                    layer.weight.repeat(samples),
                    layer.bias.repeat(samples),
                    training=False,
                    eps=layer.eps,
                )
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
        elif isinstance(layer, (SampledDropout, StochasticLayer)):
            raise ValueError("the DropConnect engine takes DropConnect networks only")
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
    layout: str | None = None,
    fold: bool = True,
) -> torch.Tensor:
    """MC-DropConnect: shared trunk, then the S weight samples (one per sample, shared by the
    whole batch) in the ``layout`` given, or `dropconnect_layout`'s for the device and batch.
    The grouped layout runs batch chunks of at most ``max_rows // S`` images, all with the same
    weights."""
    layout = layout or dropconnect_layout(x.device, x.shape[0])
    if layout not in ("grouped", "looped"):
        raise ValueError(f"layout must be 'grouped' or 'looped', got {layout!r}")
    layers = _layers(network, x.device, fold)
    trunk_end = trunk_length(layers)
    if layout == "looped":
        if any(isinstance(m, SampledDropout) and m.p > 0 for m in layers):
            raise ValueError("the DropConnect engine takes DropConnect networks only")
        trunk = run_layers(layers[:trunk_end], x)
        return _looped_rest(layers, trunk_end, trunk, samples, generator)
    max_rows = max_rows or for_device(MAX_ROWS, x.device)
    weights = _draw_weights(layers, samples, generator)
    batch = x.shape[0]
    chunk = max(1, max_rows // max(1, samples))
    parts = []
    for first in range(0, batch, chunk):
        h = run_layers(layers[:trunk_end], x[first : first + chunk])
        parts.append(_grouped_rest(layers, trunk_end, h, samples, weights))
    return torch.cat(parts, dim=1)
