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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import nn

from ..constants import METHODS
from . import engine
from .layers import DropConnectConv2d, DropConnectLinear, SampledDropout
from .networks import FaceCNN, NetworkConfig


class Method(nn.Module):
    """Base: ``forward(x, samples, generator) -> (S, B, C)`` probabilities.

    Attributes:
        name: one of `METHODS`.
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
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    kind = "dropconnect" if method == "mc_dropconnect" else "dropout"
    return NetworkConfig.from_dict({**(base or NetworkConfig()).to_dict(), "stochastic": kind})


def build_method(
    method: str,
    networks: Sequence[FaceCNN],
    samples: int = 30,
    temperature: float = 1.0,
) -> Method:
    """Wrap trained network(s) as ``method``; ``networks`` has one entry, or M for an ensemble."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    networks = list(networks)
    if method == "ensemble":
        return DeepEnsemble(networks, temperature=temperature)
    if len(networks) != 1:
        raise ValueError(f"{method} wraps exactly one network, got {len(networks)}")
    if method == "classical":
        return Classical(networks[0], temperature=temperature)
    return method_class(method)(networks[0], default_samples=samples, temperature=temperature)


def method_class(name: str) -> type[Method]:
    """The `Method` subclass of method ``name`` (one of `METHODS`): where only a name is
    at hand, ``method_class(name).sampled`` says whether its S is the caller's choice."""
    classes = {cls.name: cls for cls in (Classical, MCDropout, MCDropConnect, DeepEnsemble)}
    if name not in classes:
        raise ValueError(f"unknown method {name!r}; expected one of {METHODS}")
    return classes[name]
