"""MC prediction: images in, probabilities ``(S, N, C)`` out; device choice and seeding.

`mc_predict` is the one function every consumer (evaluation, the dashboard, the photo path)
calls. It batches the images, runs under ``torch.inference_mode()``, draws every random mask
from a per-call ``torch.Generator`` (never the global RNG), and never switches a network into
training mode, so a model shared between threads or browser sessions is safe to call
concurrently. The same seed with the same batch size gives the same samples.

``compile=True`` runs the method's forward through ``torch.compile`` (compiled once per method
and process, kept beside the method rather than in it). It is off by default: on the CPU and
the GPU measured, compiled passes ran at about eager speed or slower once compiled, after
seconds to a minute of compiling (`python benchmarks/mc_inference.py --compile`; figures in
docs/benchmarks.md). Where compiling fails (no C++ compiler, an unsupported op) the call
warns once and runs eagerly, drawing the same samples as an eager call would.
"""

from __future__ import annotations

import copy
import functools
import time
import warnings
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..data.transforms import to_input
from ..models.methods import Method

# autocast settings: "bf16" autocast, "fp32" none, "auto" bf16 where `bf16_pays`
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
# how much faster than fp32 bf16 must time on a CPU without AMX for "auto" to pick it
# (`bf16_pays`): a clear margin, so that timing noise on a busy machine does not decide
BF16_MIN_SPEEDUP = 1.1


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """``torch.bfloat16`` where ``precision`` asks for bf16 autocast on ``device`` (``"auto"``:
    where bf16 is faster than fp32 there, `bf16_pays`), else None for full fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and bf16_pays(device)):
        return torch.bfloat16
    return None


def resolve_precision(precision: str, device: torch.device) -> str:
    """What ``precision`` runs as on ``device``: ``"bf16"`` or ``"fp32"``."""
    return "fp32" if autocast_dtype(precision, device) is None else "bf16"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products in hardware: a CUDA GPU that supports
    bf16, or a CPU with AMX or AVX-512 BF16 (elsewhere bf16 is emulated, many times slower than
    fp32). Hardware is not speed: `bf16_pays` says whether bf16 is the faster choice."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return cpu_amx() or bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def cpu_amx() -> bool:
    """Whether this CPU exposes AMX tiles (torch.cpu's probe, since torch 2.1)."""
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def bf16_pays(device: torch.device) -> bool:
    """Whether bf16 autocast is faster than fp32 on ``device``, the choice of
    ``precision="auto"``: a GPU with bf16 and a CPU with AMX, yes; a CPU with AVX-512 BF16 but
    no AMX is timed once per process (`cpu_bf16_speedup`), because such CPUs differ: an AMD
    EPYC (Zen 4) runs the bundled networks faster in bf16, an Intel Xeon whose AMX its virtual
    machine does not expose runs them slower (`python benchmarks/bf16_choice.py` measures both
    against this choice). Elsewhere, no."""
    if not native_bf16(device):
        return False
    if device.type != "cpu" or cpu_amx():
        return True
    return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32's time over bf16 autocast's for two 3x3 convolutions shaped like a bundled
    network's second stage (16 faces, 64 channels at 24x24, channels-last, as the engine and
    training run them): the best of 5 runs of each, interleaved after a warm-up, with this
    process's threads. About 0.1-0.3 s, once per process; the weights come from their own
    generator, so the global RNG is left as it was."""
    generator = torch.Generator().manual_seed(0)
    weights = [0.05 * torch.randn(64, 64, 3, 3, generator=generator) for _ in range(2)]
    faces = torch.randn(16, 64, 24, 24, generator=generator)
    weights = [w.contiguous(memory_format=torch.channels_last) for w in weights]
    faces = faces.contiguous(memory_format=torch.channels_last)

    def seconds(bf16: bool) -> float:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            started = time.perf_counter()
            hidden = torch.nn.functional.conv2d(faces, weights[0], padding=1).relu()
            torch.nn.functional.conv2d(hidden, weights[1], padding=1)
            return time.perf_counter() - started

    fp32, bf16 = [], []
    for _ in range(6):  # the first of each is the warm-up
        fp32.append(seconds(False))
        bf16.append(seconds(True))
    return min(fp32[1:]) / min(bf16[1:])


def fast_placement(device: torch.device) -> str:
    """The placement that keeps many faces quick on ``device``: every block on a GPU, the head
    only on any CPU. Sampling only the head is 20-35x faster on a CPU, with bf16 in hardware or
    without, at nearly the same accuracy and JSD; bf16 hardware does not make every block cheap
    enough for a whole split (docs/benchmarks.md). The default of the dashboard's uncached
    splits, of the video page and of ``predict-video``."""
    return "head" if device.type == "cpu" else "all"


def select_device(preference: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> cuda, then mps, then cpu; otherwise the device named (checked)."""
    if preference is None or str(preference) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} was asked for, but CUDA is not available here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device} was asked for, but MPS is not available here")
    return device


def describe_device(device: torch.device) -> str:
    """A human name: the GPU's model, or "CPU (n threads)"."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def _concrete(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:N`` (the current one), so that equal devices compare equal."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A fresh generator on ``device``; seeded with ``seed``, or from OS entropy when None."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


# method -> its compiled forward, or None once compiling it has failed
_COMPILED: weakref.WeakKeyDictionary[Method, Callable[..., torch.Tensor] | None] = (
    weakref.WeakKeyDictionary()
)


def _compiled_forward(method: Method) -> Callable[..., torch.Tensor] | None:
    if method not in _COMPILED:
        try:
            # the class's function, not the bound method: a value that referenced its key
            # would keep every method ever compiled alive
            _COMPILED[method] = torch.compile(type(method).forward)
        except Exception as error:  # torch.compile itself refused (e.g. unsupported platform)
            _fallback(method, error)
    return _COMPILED[method]


def _fallback(method: Method, error: Exception) -> None:
    _COMPILED[method] = None
    warnings.warn(
        f"torch.compile of {method.name} failed ({type(error).__name__}: {error}); "
        "running it eagerly",
        RuntimeWarning,
        stacklevel=3,
    )


def _run_batch(
    method: Method,
    batch: torch.Tensor,
    samples: int,
    generator: torch.Generator,
    compile: bool,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """One batch through the compiled forward, or eagerly with the same draws if that fails;
    eagerly from the batch's trunk ``features`` (MC-Dropout) when given."""
    if features is not None:
        return method(batch, samples=samples, generator=generator, features=features)
    forward = _compiled_forward(method) if compile else None
    if forward is None:
        return method(batch, samples=samples, generator=generator)
    state = generator.get_state()
    try:
        return forward(method, batch, samples=samples, generator=generator)
    except Exception as error:  # compilation happens lazily, at the first call
        _fallback(method, error)
        generator.set_state(state)
        return method(batch, samples=samples, generator=generator)


def mc_batches(
    method: Method,
    images: np.ndarray | torch.Tensor,
    samples: int | None = None,
    batch_size: int = 256,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    precision: str = "auto",
    compile: bool = False,
    start: int = 0,
    generator_state: torch.Tensor | None = None,
    features: Callable[[int], torch.Tensor | None] | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """`mc_predict` one batch at a time, resumable: yields ``(stop, probs, state)`` after each
    batch, where ``probs`` are the float32 samples ``(S, b, C)`` of images ``[stop - b, stop)``
    and ``state`` the generator's state after drawing them. ``features(first)``, for an
    MC-Dropout method, may give the network's trunk output for the batch starting at image
    ``first`` (on the device), computed elsewhere (`engine.deterministic_and_trunk`); None there
    runs the trunk here.

    Starting at ``start`` (a multiple of ``batch_size``) with the ``state`` yielded at that
    point draws exactly the samples an uninterrupted call draws from there on, so a computation
    cut short can be resumed from its last finished batch. The arguments are `mc_predict`'s.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if start < 0 or start % batch_size:
        raise ValueError(f"start must be a multiple of batch_size={batch_size}, got {start}")
    samples = method.check_samples(samples)
    inputs = to_input(images)
    target = method.device if device is None else _concrete(select_device(device))
    bf16 = autocast_dtype(precision, target) is not None  # checks precision before any copy
    model = method if target == _concrete(method.device) else copy.deepcopy(method).to(target)
    generator = make_generator(target, seed)
    if generator_state is not None:
        generator.set_state(generator_state)
    total = inputs.shape[0]
    for first in range(start, total, batch_size):
        with torch.inference_mode(), torch.autocast(target.type, torch.bfloat16, enabled=bf16):
            batch = inputs[first : first + batch_size].to(target, non_blocking=True)
            batch = batch.contiguous(memory_format=torch.channels_last)
            trunk = features(first) if features is not None else None
            drawn = _run_batch(model, batch, samples, generator, compile, trunk)
        yield min(first + batch_size, total), drawn.float().cpu(), generator.get_state()


def mc_predict(
    method: Method,
    images: np.ndarray | torch.Tensor,
    samples: int | None = None,
    batch_size: int = 256,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
    precision: str = "auto",
    compile: bool = False,
) -> torch.Tensor:
    """Predictive samples of ``method`` for ``images``.

    Args:
        method: a `Method` in eval mode.
        images: uint8 ``(N, 48, 48)`` or float ``(N, 1, 48, 48)`` in [0, 1].
        samples: S; None for the method's default (30 for MC, M for an ensemble, 1 classical).
        batch_size: images per forward pass.
        seed: seeds this call's generator; None draws a fresh seed.
        device: where to run; None uses the method's own device. A different device runs a
            copy of the method there, leaving the caller's model where it was.
        progress: called as ``progress(done, total)`` after each batch.
        precision: ``"fp32"``, ``"bf16"`` (autocast; faster where the hardware computes bf16,
            probabilities within about 1e-2 of fp32), or ``"auto"``: bf16 where it is faster
            than fp32 on the device (`bf16_pays`), else fp32.
        compile: run through ``torch.compile`` (see the module docstring); falls back to eager
            with a `RuntimeWarning` where compiling fails.

    Returns:
        float32 probabilities ``(S, N, C)`` on the CPU; each ``[s, n]`` sums to 1.
    """
    total = len(images)
    outputs = []
    for stop, drawn, _ in mc_batches(
        method, images, samples, batch_size, seed, device, precision, compile
    ):
        outputs.append(drawn)
        if progress is not None:
            progress(stop, total)
    if not outputs:
        num_classes = method.networks[0].config.num_classes
        return torch.empty(method.check_samples(samples), 0, num_classes)
    return torch.cat(outputs, dim=1)
