"""The four inference methods behind one interface: a batch in, ``(S, B, C)`` probabilities out.

* `Classical`: one deterministic pass, S = 1.
* `MCDropout`: S passes with the dropout masks sampled; BatchNorm stays on running statistics.
* `MCDropConnect`: S passes with the weight masks sampled.
* `DeepEnsemble`: one pass per member, S = M; members are independently initialised and trained.

A method is a thin wrapper around trained `FaceCNN` network(s): ``classical`` and
``mc_dropout`` can wrap the same dropout network. Wrappers validate what they are given (an
MC method needs stochastic layers of its kind; an ensemble needs at least two members) and
never change their networks: they sample through ``FaceCNN.forward(stochastic=True,
generator=...)`` instead of switching modules into training mode.

The sampling itself is `bnnfer.models.engine`'s: the deterministic trunk runs once per image and the
S samples run as a few large passes (same samples as S full passes, in distribution for dropout,
exactly for DropConnect).

`from_module` wraps any ``torch.nn.Module`` giving 8 logits as ``classical``, ``mc_dropout``
(its ``nn.Dropout`` layers sampled from the call's generator, the module left in eval mode) or
``ensemble`` (a list of modules), with the same ``(S, B, C)`` output and `mc_predict` support.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..constants import NUM_CLASSES
from . import engine
from .layers import DropConnectConv2d, DropConnectLinear, SampledDropout, drop
from .networks import FaceCNN, NetworkConfig

METHOD_NAMES: tuple[str, ...] = ("classical", "mc_dropout", "mc_dropconnect", "ensemble")


class Method(nn.Module):
    """Base: ``forward(x, samples, generator) -> (S, B, C)`` probabilities.

    Attributes:
        name: one of `METHOD_NAMES`.
        temperature: logits are divided by it before the softmax (1 = none).
        default_samples: S used when the caller does not say.
        sampled: whether S is the caller's choice (MC-Dropout, MC-DropConnect): the classical
            network gives one fixed sample and an ensemble one per member. A class attribute,
            so that a method name answers too: ``method_class(name).sampled``.
    """

    name: str = ""
    default_samples: int = 1
    sampled: ClassVar[bool] = False

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        # an inference wrapper: its own flag says eval; its networks keep theirs (they are
        # checked, never switched, at each call)
        self.training = False

    @property
    def networks(self) -> list[FaceCNN]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_samples(self, samples: int | None) -> int:
        """The S to draw: ``samples`` validated, or the method's default."""
        if samples is None:
            return self.default_samples
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        return samples

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float() / self.temperature, dim=-1)

    def _require_eval(self) -> None:
        if any(net.training for net in self.networks):
            raise RuntimeError(
                f"{self.name}: a network is in training mode; inference needs eval mode "
                "(BatchNorm on running statistics). Call .eval() on the method first."
            )

    def forward(
        self,
        x: torch.Tensor,
        samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``x`` float ``(B, 1, 48, 48)`` in [0, 1] -> probabilities ``(S, B, C)``."""
        raise NotImplementedError


class Classical(Method):
    """Deterministic inference of one network: S = 1 (any stochastic layer is left off)."""

    name = "classical"

    def __init__(self, network: FaceCNN, temperature: float = 1.0) -> None:
        super().__init__(temperature)
        if not isinstance(network, FaceCNN):
            raise TypeError(f"network must be a FaceCNN, got {type(network).__name__}")
        self.network = network

    @property
    def networks(self) -> list[FaceCNN]:
        return [self.network]

    def check_samples(self, samples: int | None) -> int:
        if samples is not None and (
            isinstance(samples, bool) or samples != 1 or not isinstance(samples, int)
        ):
            raise ValueError(
                f"classical inference is deterministic: samples must be 1, got {samples}"
            )
        return 1

    def combine(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The probabilities ``(1, B, C)`` from the network's deterministic logits ``[(B, C)]``
        (what `forward` computes; callers that already hold the logits reuse them)."""
        return self._probabilities(logits[0]).unsqueeze(0)

    def forward(self, x, samples=None, generator=None):
        self.check_samples(samples)
        self._require_eval()
        return self.combine([engine.deterministic(self.network, x)])


class _MonteCarlo(Method):
    """Shared body of MC-Dropout and MC-DropConnect: S stochastic passes of one network."""

    layer_types: tuple[type, ...] = ()
    kind: str = ""
    default_samples = 30
    sampled = True

    def __init__(self, network: FaceCNN, default_samples: int = 30, temperature: float = 1.0):
        super().__init__(temperature)
        if not isinstance(network, FaceCNN):
            raise TypeError(f"network must be a FaceCNN, got {type(network).__name__}")
        own = [m for m in network.stochastic_layers if isinstance(m, self.layer_types)]
        if not own:
            raise ValueError(
                f"{self.name} needs a network with {self.kind} layers of p > 0; this one has "
                f"stochastic={network.config.stochastic!r}"
            )
        self.network = network
        self.default_samples = self.check_samples(default_samples)

    @property
    def networks(self) -> list[FaceCNN]:
        return [self.network]

    def forward(self, x, samples=None, generator=None):
        return self._sample(x, samples, generator)

    def _sample(self, x, samples, generator, **options):
        """S samples through `sampler`, ``options`` passed on to it."""
        samples = self.check_samples(samples)
        self._require_eval()
        return self._probabilities(self.sampler(self.network, x, samples, generator, **options))


class MCDropout(_MonteCarlo):
    """MC-Dropout (Gal & Ghahramani, 2016): dropout sampled at inference, BN in eval mode."""

    name = "mc_dropout"
    kind = "dropout"
    layer_types = (SampledDropout,)
    sampler = staticmethod(engine.dropout_samples)

    def forward(self, x, samples=None, generator=None, features=None):
        """``features``: the network's trunk output for ``x`` when the caller has it already
        (the deterministic pass of the same weights computed it); the same samples, sooner."""
        return self._sample(x, samples, generator, features=features)


class MCDropConnect(_MonteCarlo):
    """MC-DropConnect (Mobiny et al., 2019): weight masks sampled at inference."""

    name = "mc_dropconnect"
    kind = "DropConnect"
    layer_types = (DropConnectConv2d, DropConnectLinear)
    sampler = staticmethod(engine.dropconnect_samples)


class DeepEnsemble(Method):
    """Deep ensemble (Lakshminarayanan et al., 2017): S = M members, one pass each."""

    name = "ensemble"

    def __init__(self, members: Sequence[FaceCNN], temperature: float = 1.0) -> None:
        super().__init__(temperature)
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        if not all(isinstance(m, FaceCNN) for m in members):
            raise TypeError("ensemble members must all be FaceCNN networks")
        classes = {m.config.num_classes for m in members}
        if len(classes) != 1:
            raise ValueError(f"ensemble members disagree on the number of classes: {classes}")
        self.members = nn.ModuleList(members)
        self.members.training = False  # a container: its members keep their own mode
        self.default_samples = len(members)

    @property
    def networks(self) -> list[FaceCNN]:
        return list(self.members)

    def check_samples(self, samples: int | None) -> int:
        if samples is not None and (
            isinstance(samples, bool)
            or not isinstance(samples, int)
            or samples != len(self.members)
        ):
            raise ValueError(
                f"an ensemble of {len(self.members)} gives exactly {len(self.members)} "
                f"samples (one per member), got samples={samples}"
            )
        return len(self.members)

    def combine(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The probabilities ``(M, B, C)`` from each member's deterministic logits ``[(B, C)]``
        (what `forward` computes; callers that already hold the logits reuse them)."""
        return self._probabilities(torch.stack(list(logits)))

    def forward(self, x, samples=None, generator=None):
        self.check_samples(samples)
        self._require_eval()
        return self.combine([engine.deterministic(m, x) for m in self.members])


# --------------------------------------------------------------------------------------
# any torch module as a method

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
        hint = hint if kind in METHOD_NAMES else ""
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


def placements(methods: Mapping[str, Method]) -> dict[str, str]:
    """``{key: placement}`` of the MC methods among ``methods``: which of their stochastic layers
    they sample (``"all"``, ``"last"``, ``"head"``; see `bnnfer.models.networks.with_placement`).
    Only bnnfer's own networks have placements: a `from_module` method is left out."""
    return {
        key: m.networks[0].config.placement
        for key, m in methods.items()
        if isinstance(m, _MonteCarlo)
    }


def network_config_for(method: str, base: NetworkConfig | None = None) -> NetworkConfig:
    """The network config a method trains: DropConnect for ``mc_dropconnect``, else dropout."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; expected one of {METHOD_NAMES}")
    kind = "dropconnect" if method == "mc_dropconnect" else "dropout"
    return NetworkConfig.from_dict({**(base or NetworkConfig()).to_dict(), "stochastic": kind})


def build_method(
    method: str,
    networks: Sequence[FaceCNN],
    samples: int = 30,
    temperature: float = 1.0,
) -> Method:
    """Wrap trained network(s) as ``method``; ``networks`` has one entry, or M for an ensemble."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; expected one of {METHOD_NAMES}")
    networks = list(networks)
    if method == "ensemble":
        return DeepEnsemble(networks, temperature=temperature)
    if len(networks) != 1:
        raise ValueError(f"{method} wraps exactly one network, got {len(networks)}")
    if method == "classical":
        return Classical(networks[0], temperature=temperature)
    return method_class(method)(networks[0], default_samples=samples, temperature=temperature)


def method_class(name: str) -> type[Method]:
    """The `Method` subclass of method ``name`` (one of `METHOD_NAMES`): where only a name is
    at hand, ``method_class(name).sampled`` says whether its S is the caller's choice."""
    classes = {cls.name: cls for cls in (Classical, MCDropout, MCDropConnect, DeepEnsemble)}
    if name not in classes:
        raise ValueError(f"unknown method {name!r}; expected one of {METHOD_NAMES}")
    return classes[name]
