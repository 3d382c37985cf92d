"""Any ``torch.nn.Module`` as a method (`from_module`), beside bnnfer's own networks.

`from_module` wraps any ``torch.nn.Module`` giving 8 logits as ``classical``, ``mc_dropout``
(its ``nn.Dropout`` layers sampled from the call's generator, the module left in eval mode) or
``ensemble`` (a list of modules), with the same ``(S, B, C)`` output and `mc_predict` support.

The module is never switched into training mode: ``mc_dropout`` samples its ``nn.Dropout``
layers through forward hooks that read the generator of the call running in this thread, so
concurrent callers neither race nor change each other's samples.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..constants import METHODS, NUM_CLASSES
from .layers import drop
from .methods import Classical, DeepEnsemble, Method
from .networks import FaceCNN

MODULE_KINDS: tuple[str, ...] = ("classical", "mc_dropout", "ensemble")

# The generator of the wrapped ``mc_dropout`` call running in this thread, as ``(generator,)``
# (None inside: torch's global generator), or None outside such a call. A ContextVar is per
# thread (and per asyncio task), so concurrent calls each see their own generator.
_DROPOUT_DRAW: ContextVar[tuple[torch.Generator | None] | None] = ContextVar(
    "bnnfer_dropout_draw", default=None
)
_HOOK_LOCK = threading.Lock()


def _sample_dropout(layer: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
    """Forward hook on a wrapped module's ``nn.Dropout``. In eval mode the layer passed its input
    through; within a wrapped ``mc_dropout`` call in this thread the hook drops it with a mask
    from the call's generator (kept where uniform < 1 - p, the rest scaled by 1/(1 - p), as
    `bnnfer.models.layers.SampledDropout`). Anywhere else (the module used on its own, a classical
    call, another thread) it returns None: the layer's output stands."""
    draw = _DROPOUT_DRAW.get()
    if draw is None or layer.training or not isinstance(output, torch.Tensor):
        return None
    p = float(layer.p)
    if p <= 0.0:
        return None
    if p >= 1.0:  # what nn.Dropout(p=1) gives in training mode
        return torch.zeros_like(output)
    return drop(output, p, draw[0])


def _hook_dropout(layers: Sequence[nn.Module]) -> None:
    """Adds `_sample_dropout` to each layer once: a module wrapped twice, or a copy of a wrapped
    one (its hooks are copied with it), is not hooked twice (which would drop twice)."""
    with _HOOK_LOCK:
        for layer in layers:
            if not any(hook is _sample_dropout for hook in layer._forward_hooks.values()):
                layer.register_forward_hook(_sample_dropout)


@dataclass(frozen=True)
class ModuleConfig:
    """What a wrapped module's holder answers in place of a `NetworkConfig`: its number of
    classes (`mc_predict` reads ``method.networks[0].config.num_classes`` for an empty input)."""

    num_classes: int = NUM_CLASSES


def _described(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


class WrappedModule(nn.Module):
    """Holds a caller's module (``.module``, the module itself, not a copy) as a network of a
    `from_module` method: runs it and checks it returned float logits ``(B, 8)``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.config = ModuleConfig()
        self.training = False  # a holder: its module keeps its own mode (checked, never switched)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.module(x)
        expected = (x.shape[0], NUM_CLASSES)
        if (
            not isinstance(logits, torch.Tensor)
            or tuple(logits.shape) != expected
            or not logits.is_floating_point()
        ):
            raise ValueError(
                f"the wrapped {type(self.module).__name__} returned {_described(logits)} for "
                f"an input of shape {tuple(x.shape)}; expected float logits of shape (B, C) = "
                f"{expected}: one row per image, one column per FER+ emotion in "
                "bnnfer.EMOTIONS order, before the softmax"
            )
        return logits


class _ModuleMethod(Method):
    """Shared body of the `from_module` methods: the caller's modules, held in `WrappedModule`s
    (``networks``), are checked to be in eval mode at each call and never switched."""

    def __init__(self, modules: Sequence[nn.Module], temperature: float = 1.0) -> None:
        super().__init__(temperature)
        self.members = nn.ModuleList(WrappedModule(m) for m in modules)
        self.members.training = False  # a container: its members keep their own mode

    @property
    def networks(self) -> list[WrappedModule]:  # type: ignore[override]
        return list(self.members)

    @property
    def device(self) -> torch.device:
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")  # a module without parameters or buffers

    def _require_eval(self) -> None:
        for index, holder in enumerate(self.members):
            named = holder.module.named_modules()
            training = [name or "the module itself" for name, m in named if m.training]
            if training:
                which = "the module" if len(self.members) == 1 else f"ensemble member {index}"
                shown = ", ".join(training[:3]) + (", ..." if len(training) > 3 else "")
                raise RuntimeError(
                    f"{self.name}: {which} is in training mode ({shown}); inference needs eval "
                    "mode (BatchNorm on running statistics; bnnfer samples dropout itself). "
                    "Call .eval() on the module first."
                )


class WrappedClassical(_ModuleMethod):
    """`from_module` ``(module, "classical")``: one deterministic pass, S = 1."""

    name = "classical"
    check_samples = Classical.check_samples
    combine = Classical.combine

    def forward(self, x, samples=None, generator=None):
        self.check_samples(samples)
        self._require_eval()
        return self.combine([self.members[0](x)])


class WrappedEnsemble(_ModuleMethod):
    """`from_module` ``(modules, "ensemble")``: one deterministic pass per member, S = M."""

    name = "ensemble"
    check_samples = DeepEnsemble.check_samples
    combine = DeepEnsemble.combine

    def __init__(self, modules: Sequence[nn.Module], temperature: float = 1.0) -> None:
        super().__init__(modules, temperature)
        self.default_samples = len(self.members)

    def forward(self, x, samples=None, generator=None):
        self.check_samples(samples)
        self._require_eval()
        return self.combine([member(x) for member in self.members])


class WrappedMCDropout(_ModuleMethod):
    """`from_module` ``(module, "mc_dropout")``: S passes, each ``nn.Dropout`` sampled by a hook
    from the call's generator while the module stays in eval mode (see `from_module`)."""

    name = "mc_dropout"
    sampled = True
    default_samples = 30

    def __init__(
        self, module: nn.Module, default_samples: int = 30, temperature: float = 1.0
    ) -> None:
        super().__init__([module], temperature)
        self.default_samples = self.check_samples(default_samples)
        _hook_dropout([m for m in module.modules() if isinstance(m, nn.Dropout)])

    def forward(self, x, samples=None, generator=None):
        samples = self.check_samples(samples)
        self._require_eval()
        token = _DROPOUT_DRAW.set((generator,))
        try:
            logits = torch.stack([self.members[0](x) for _ in range(samples)])
        finally:
            _DROPOUT_DRAW.reset(token)
        return self._probabilities(logits)


def from_module(
    module: nn.Module | Sequence[nn.Module],
    kind: str,
    samples: int = 30,
    temperature: float = 1.0,
) -> Method:
    """Any ``torch.nn.Module`` as a bnnfer method, for `mc_predict` and everything after it.

    The module maps float ``(B, 1, 48, 48)`` pixels in [0, 1] to logits ``(B, 8)`` over
    `bnnfer.EMOTIONS` (checked at every call). The method gives the same ``(S, B, C)``
    probabilities as the bundled methods.

    Args:
        module: the module; for ``"ensemble"`` a non-empty list of them, one per member.
        kind: ``"classical"`` (one deterministic pass, S = 1), ``"mc_dropout"`` (S passes with
            the module's ``nn.Dropout`` layers sampled) or ``"ensemble"`` (a pass per member).
        samples: the default S of ``"mc_dropout"`` (validated for every kind).
        temperature: logits are divided by it before the softmax.

    The module must be in eval mode when called (checked: the method never switches it, so
    BatchNorm stays on running statistics). For ``"mc_dropout"`` the masks are drawn by bnnfer
    from the call's ``torch.Generator``, not by putting the module into training mode: each
    ``nn.Dropout`` layer (the class and its subclasses; ``Dropout2d`` and ``AlphaDropout`` stay
    at their eval identity) gets one forward hook, added once however many wrappers share the
    layer. The hook is the identity except inside a wrapped ``mc_dropout`` call in the same
    thread, which passes its generator through a `contextvars.ContextVar` (per thread), so one
    module shared by concurrent callers (the dashboard's sessions) gives each call the samples
    it would give alone. The S samples are S passes of the whole module.

    Why hooks rather than a deep copy with the Dropout layers swapped for sampled ones: no
    second copy of the weights to hold, or to fall out of date when the caller keeps training;
    nothing in the module is replaced; and it works wherever the layer is called from (a swap
    must find and reassign the attribute that holds it). A copy would need the same per-thread
    generator anyway, since the module's forward passes none down.

    Raises:
        ValueError: unknown ``kind``; an empty ensemble; ``mc_dropout`` on a module without
            ``nn.Dropout`` of p > 0; ``samples`` not a positive integer; and, at call time,
            output that is not ``(B, 8)`` logits.
        TypeError: ``module`` is not an ``nn.Module`` (for ``"ensemble"``: not a sequence of
            them); ``kind`` not a string.
        RuntimeError: at call time, the module (or any submodule) is in training mode.
    """
    if not isinstance(kind, str):
        raise TypeError(
            f"kind must be a string, one of {MODULE_KINDS}; got a {type(kind).__name__} "
            "(the arguments are from_module(module, kind, ...))"
        )
    if kind not in MODULE_KINDS:
        hint = "; mc_dropconnect needs bnnfer's networks (build_method)"
        hint = hint if kind in METHODS else ""
        raise ValueError(f"unknown kind {kind!r}; expected one of {MODULE_KINDS}{hint}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    several = isinstance(module, (Sequence, nn.ModuleList)) and not isinstance(module, str)
    if kind == "ensemble":
        if not several:
            single = " (wrap one module as 'classical' or 'mc_dropout')"
            single = single if isinstance(module, nn.Module) else ""
            raise TypeError(
                "an ensemble wraps a list of nn.Module, one per member; got a "
                f"{type(module).__name__}{single}"
            )
        members = list(module)  # type: ignore[arg-type]
        if not members:
            raise ValueError("an ensemble needs at least one module, got an empty sequence")
        for index, member in enumerate(members):
            if not isinstance(member, nn.Module):
                raise TypeError(
                    f"ensemble member {index} is a {type(member).__name__}, not an nn.Module"
                )
        return WrappedEnsemble(members, temperature=temperature)
    if several or not isinstance(module, nn.Module):
        hint = " (for several modules use kind='ensemble')" if several else ""
        raise TypeError(f"module must be a torch.nn.Module, got a {type(module).__name__}{hint}")
    if kind == "classical":
        return WrappedClassical([module], temperature=temperature)
    dropouts = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    if not any(m.p > 0 for m in dropouts):
        found = ", ".join(f"Dropout(p={m.p})" for m in dropouts) or "no nn.Dropout layer"
        hint = " (a FaceCNN: use build_method)" if isinstance(module, FaceCNN) else ""
        raise ValueError(
            "mc_dropout needs a module with nn.Dropout layers of p > 0; this "
            f"{type(module).__name__} has {found}{hint}"
        )
    if isinstance(module, torch.jit.ScriptModule):
        raise TypeError(
            "mc_dropout samples nn.Dropout through Python forward hooks, which a TorchScript "
            "module does not run; wrap the Python module instead"
        )
    return WrappedMCDropout(module, default_samples=samples, temperature=temperature)
