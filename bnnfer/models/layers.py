"""Stochastic layers whose sampling the caller controls: MC dropout and DropConnect.

Unlike ``nn.Dropout``, these layers do not look at ``module.training`` to decide whether to
sample. The network passes ``stochastic`` and an optional ``torch.Generator`` down explicitly,
so MC inference on a shared model in eval mode (BatchNorm on running statistics) never has
to switch the model into training mode, and concurrent callers with their own generators do
not disturb each other.

* `SampledDropout` zeroes each activation with probability p and scales the rest by 1/(1-p)
  (the layer that the MC-Dropout method, `bnnfer.models.methods.MCDropout`, samples).
* `SampledChannelDropout` (spatial dropout, Tompson et al., 2015) zeroes whole feature maps: one
  draw per image and channel of a ``(B, C, H, W)`` input, shared by its ``H x W`` positions. It
  is a `SampledDropout`, so MC-Dropout samples it as it samples element-wise dropout.
* `DropConnectConv2d` / `DropConnectLinear` zero each *weight* with probability p and scale the
  rest by 1/(1-p) (Wan et al., 2013; Mobiny et al., 2019 use it for MC-DropConnect). One weight
  mask is drawn per forward call and shared by the batch: in MC inference one call is one
  posterior sample of the weights, applied to every image. Biases are not dropped.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _check_rate(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"drop probability must be in [0, 1), got {p}")
    return float(p)


def _uniform(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # float32 whatever ``like``'s dtype (a bf16 pass keeps the exact keep probability), in
    # ``like``'s memory layout
    return torch.rand_like(like, dtype=torch.float32, generator=generator)


def drop(
    values: torch.Tensor,
    p: float,
    generator: torch.Generator | None,
    scaled: torch.Tensor | None = None,
) -> torch.Tensor:
    """``values`` with each entry zeroed with probability p and the rest divided by 1-p (the
    expectation is ``values``). ``scaled``: ``values / (1 - p)`` when the caller has it already
    (a weight dropped once per sample); the same draws give the same result either way.

    An entry is kept where a float32 ``uniform < 1 - p``, drawn in ``values``' memory layout
    whatever its dtype: on a CPU that is twice as fast as ``bernoulli_``, and mask drawing is a
    large share of an MC pass there (one CPU generator is one serial stream).
    """
    keep = 1.0 - p
    # masked in place in the draws' own buffer (1.0 * v / keep is v / keep exactly): a third of
    # the time of a separate boolean mask and select on a CPU
    kept = _uniform(values, generator).lt_(keep)
    if kept.dtype != values.dtype:
        kept = kept.to(values.dtype)
    return kept.mul_(values).div_(keep) if scaled is None else kept.mul_(scaled)


class StochasticLayer(nn.Module):
    """Marker base class: ``forward(x, stochastic, generator)`` and a drop probability ``p``."""

    p: float


class SampledDropout(StochasticLayer):
    """Element-wise dropout, sampled when ``stochastic`` is true. Any input shape."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _check_rate(p)

    def forward(
        self, x: torch.Tensor, stochastic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if not stochastic or self.p == 0.0:
            return x
        if generator is None:  # the fused kernel, for training
            return F.dropout(x, self.p, training=True)
        return drop(x, self.p, generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SampledChannelDropout(SampledDropout):
    """Channel (spatial) dropout of ``(B, C, H, W)`` feature maps, sampled when ``stochastic``:
    each ``(image, channel)`` map is zeroed with probability p, the rest scaled by 1/(1-p)."""

    def forward(
        self, x: torch.Tensor, stochastic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(
                f"channel dropout takes (B, C, H, W) inputs, got shape {tuple(x.shape)}"
            )
        if not stochastic or self.p == 0.0:
            return x
        if generator is None:  # the fused kernel, for training
            return F.dropout2d(x, self.p, training=True)
        # one draw per (image, channel), float32 as `drop` draws, broadcast over H and W
        draws = torch.rand(x.shape[:2], generator=generator, device=x.device)
        kept = draws.lt_(1.0 - self.p).to(x.dtype)
        return (x * kept[:, :, None, None]).div_(1.0 - self.p)


class DropConnectConv2d(nn.Conv2d, StochasticLayer):
    """``nn.Conv2d`` whose weight ``(C_out, C_in, k, k)`` is masked when ``stochastic``."""

    def __init__(self, *args: object, p: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.p = _check_rate(p)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, stochastic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if not stochastic or self.p == 0.0:
            return super().forward(x)
        return self._conv_forward(x, drop(self.weight, self.p, generator), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


class DropConnectLinear(nn.Linear, StochasticLayer):
    """``nn.Linear`` whose weight ``(out, in)`` is masked when ``stochastic``."""

    def __init__(self, in_features: int, out_features: int, *, p: float, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.p = _check_rate(p)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, stochastic: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if not stochastic or self.p == 0.0:
            return super().forward(x)
        return F.linear(x, drop(self.weight, self.p, generator), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
