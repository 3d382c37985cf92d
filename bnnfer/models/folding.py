"""Inference layers: a network's layer list with each eval-mode BatchNorm folded into its conv.

In eval mode ``BatchNorm2d`` is a per-channel affine map, so ``BN(conv(x, W))`` equals
``conv(x, W * scale) + shift`` with ``scale = gamma / sqrt(running_var + eps)`` ``(C_out,)`` and
``shift = beta - running_mean * scale`` (plus ``conv.bias * scale``). DropConnect commutes with
it too: the mask is per weight and ``scale`` per output channel, so masking the folded weight
draws the same samples (same shapes, same order) as masking the original one. Folding saves
the BatchNorm pass, which reads and writes the whole activation (a share of each pass that
grows in bf16, where the convolutions themselves run faster; docs/benchmarks.md).

`inference_layers` returns the folded list, cached per network and invalidated when any of its
tensors change (an optimizer step, ``load_state_dict``, ``.to()``), optionally cast to bf16
once instead of at every call. The engine runs it; `FaceCNN` itself is never changed.
"""

from __future__ import annotations

import copy
import weakref

import torch
from torch import nn

from .networks import FaceCNN

# network -> ((fingerprint of its tensors, dtype), folded layers): one folded copy per network
_CACHE: weakref.WeakKeyDictionary[FaceCNN, tuple[tuple, list[nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _fingerprint(network: FaceCNN) -> tuple:
    """Changes whenever a parameter or buffer is written in place or replaced."""
    tensors = [*network.parameters(), *network.buffers()]
    return tuple((t.data_ptr(), t._version, t.device.type) for t in tensors)


def fold_conv_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` (same class, so a DropConnect conv keeps its ``p``) computing
    ``norm(conv(x))`` with ``norm`` on its running statistics. Weight ``(C_out, C_in, k, k)``
    keeps ``conv.weight``'s memory format."""
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("cannot fold a BatchNorm that tracks no running statistics")
    if norm.num_features != conv.out_channels:
        raise ValueError(
            f"BatchNorm has {norm.num_features} channels, the conv before it {conv.out_channels}"
        )
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)  # (C_out,)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        if conv.bias is not None:
            shift = shift + conv.bias * scale
        weight = conv.weight * scale.view(-1, 1, 1, 1)
    return _with_parameters(conv, {"weight": weight, "bias": shift})


def _with_parameters(module: nn.Module, tensors: dict[str, torch.Tensor | None]) -> nn.Module:
    """A new module object sharing ``module``'s attributes, with ``tensors`` as its constant
    parameters (the original keeps its own)."""
    copied = copy.copy(module)
    copied._parameters = {
        name: None if t is None else nn.Parameter(t, requires_grad=False)
        for name, t in tensors.items()
    }
    return copied


def _fold(layers: nn.ModuleList, dtype: torch.dtype | None) -> list[nn.Module]:
    folded: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d) and folded and isinstance(folded[-1], nn.Conv2d):
            folded[-1] = fold_conv_batchnorm(folded[-1], layer)
        else:
            folded.append(layer)
    if dtype is not None:
        folded = [_cast(layer, dtype) for layer in folded]
    return folded


def _cast(layer: nn.Module, dtype: torch.dtype) -> nn.Module:
    if not isinstance(layer, (nn.Conv2d, nn.Linear)):
        return layer
    params = layer._parameters.items()
    return _with_parameters(
        layer, {name: None if p is None else p.detach().to(dtype) for name, p in params}
    )


def inference_layers(network: FaceCNN, dtype: torch.dtype | None = None) -> list[nn.Module]:
    """``network.layers`` with every ``Conv2d -> BatchNorm2d`` pair folded into one conv, the
    conv and linear weights cast to ``dtype`` if given (None: as stored). The network must be
    in eval mode (a training-mode BatchNorm normalises with the batch's statistics, which
    cannot be folded). The folded tensors are constants: gradients reach the input, not the
    network's weights."""
    if network.training:
        raise RuntimeError("BatchNorm can only be folded in eval mode; call .eval() first")
    key = (_fingerprint(network), dtype)
    cached = _CACHE.get(network)
    if cached is None or cached[0] != key:
        # ordinary tensors even when the first call comes from inference mode: a later caller
        # may take gradients through the layers (e.g. a saliency map of the input)
        with torch.inference_mode(False), torch.no_grad():
            folded = _fold(network.layers, dtype)
        # replaced whole, never edited, so a concurrent caller sees the old entry or the new
        cached = (key, folded)
        _CACHE[network] = cached
    return cached[1]
