"""Benchmarks of MC inference: the engine against the naive loop, achieved GFLOP/s against the
same run's matmul peak, peak memory, and the cost/quality of each stochastic-layer placement.

Figures are measured, printed and written as JSON; nothing here asserts a speed. The scripts
beside this module run them: ``python benchmarks/mc_inference.py`` and
``python benchmarks/engine_settings.py``. Import it as ``bench`` with this folder on
``sys.path`` (a script here has it there already; pytest's ``pythonpath`` puts it there for
the tests).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bnnfer.allocator import release_freed_memory
from bnnfer.evaluation import metrics
from bnnfer.models import engine
from bnnfer.models.networks import FaceCNN, NetworkConfig, with_placement
from bnnfer.training.bundle import ROWS

# the bundle's rows served by several networks, in the bundle's order
ENSEMBLE_ROWS = [row.key for row in ROWS if row.method == "ensemble"]


def bench_networks(models: str | Path, device: torch.device) -> tuple[dict[str, FaceCNN], bool]:
    """The bundle's MC-Dropout and MC-DropConnect networks in ``models`` (first member), or
    untrained default networks where the folder holds no trained bundle (timing does not
    depend on the weights); the flag says which."""
    from bnnfer.models.checkpoints import load_networks

    models = Path(models)
    if (models / "dropout.json").is_file() and (models / "dropconnect.json").is_file():
        networks = {
            "mc_dropout": load_networks(models / "dropout", device)[0][0],
            "mc_dropconnect": load_networks(models / "dropconnect", device)[0][0],
        }
        return networks, True
    networks = {
        "mc_dropout": FaceCNN(NetworkConfig()).eval(),
        "mc_dropconnect": FaceCNN(NetworkConfig(stochastic="dropconnect")).eval(),
    }
    return {k: n.to(device) for k, n in networks.items()}, False


def layer_flops(network: FaceCNN, start: int = 0, stop: int | None = None) -> float:
    """Multiply-adds x 2 of the conv and linear layers in ``[start, stop)`` for one image."""
    flops = 0.0
    x = torch.zeros(1, 1, 48, 48, device=next(network.parameters()).device)
    with torch.inference_mode():
        for i, layer in enumerate(network.layers):
            out = layer(x)  # stochastic layers default to their deterministic pass
            if (stop is None or i < stop) and i >= start:
                if isinstance(layer, nn.Conv2d):
                    k = layer.weight[0].numel()
                    flops += 2.0 * out.numel() * k
                elif isinstance(layer, nn.Linear):
                    flops += 2.0 * layer.in_features * layer.out_features
            x = out
    return flops


def trunk_and_rest_flops(network: FaceCNN) -> tuple[float, float]:
    """`layer_flops` of one image before the first stochastic layer and from it on."""
    trunk = network.trunk_length
    return layer_flops(network, 0, trunk), layer_flops(network, trunk)


def flop_bound(network: FaceCNN, samples: int) -> float:
    """The speed-up over S full passes that computing the deterministic trunk once buys at
    equal FLOP efficiency: ``S * (trunk + rest) / (trunk + S * rest)`` (FLOPs of one image)."""
    return _bound(*trunk_and_rest_flops(network), samples)


def _bound(trunk_flops: float, rest_flops: float, samples: int) -> float:
    return samples * (trunk_flops + rest_flops) / (trunk_flops + samples * rest_flops)


def matmul_peak(
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    size: int | None = None,
    repeats: int = 10,
    tf32: bool = False,
) -> float:
    """GFLOP/s of a large ``dtype`` matmul: the practical peak of ``device`` in this run.
    ``size`` defaults to 2048 on a CPU and 8192 on a GPU, where a 2048 product is too short
    to fill the device. ``tf32`` lets a CUDA float32 product run in TF32, the peak to compare
    float32 convolutions with when cuDNN runs them in TF32 (torch's default)."""
    size = size or (2048 if device.type == "cpu" else 8192)
    if device.type != "cuda":
        if tf32:
            raise ValueError(f"tf32 is a CUDA setting, got device {device}")
        return _matmul_rate(device, dtype, size, repeats)
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        return _matmul_rate(device, dtype, size, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def _matmul_rate(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    _sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    release_freed_memory()  # else memory kept from earlier passes would count as this one's
    if os.path.exists("/proc/self/clear_refs"):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
        except OSError:
            pass


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _is_bf16(precision: str) -> bool:
    """Whether a timing ``precision`` (``"fp32"`` or ``"bf16"``, checked) runs under bf16
    autocast."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    return precision == "bf16"


def _timed(
    fn: Callable[[], Any], device: torch.device, min_seconds: float = 1.0, bf16: bool = False
) -> float:
    """Seconds per call (under bf16 autocast if ``bf16``): one warm-up, then repeats for at
    least ``min_seconds``."""
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
        fn()
        _sync(device)
        calls, started = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            _sync(device)
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                return elapsed / calls


def engine_vs_naive(
    networks: dict[str, FaceCNN],
    samples: Sequence[int] = (1, 10, 30, 100),
    batch: int = 64,
    device: torch.device | None = None,
    min_seconds: float = 1.0,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """One record per method and S: images x samples per second of the engine, of the engine
    without BatchNorm folding (trunk sharing and batching alone) and of S full passes, the
    ratios, the engine's GFLOP/s and its peak memory, and for DropConnect the rate of the layout
    the device does not default to for this batch; ``precision`` ``"fp32"`` or ``"bf16"``
    (autocast)."""
    bf16 = _is_bf16(precision)
    device = device or torch.device("cpu")
    # channels-last, as mc_predict feeds the networks
    x = torch.rand(batch, 1, 48, 48, device=device).contiguous(memory_format=torch.channels_last)
    records = []
    for method, network in networks.items():
        network = network.to(device).eval()
        fast = engine.dropconnect_samples if method == "mc_dropconnect" else engine.dropout_samples
        trunk_flops, rest_flops = trunk_and_rest_flops(network)
        for s in samples:
            generator = torch.Generator(device=device).manual_seed(0)
            _reset_peak(device)
            engine_seconds = _timed(
                lambda f=fast, n=network, s=s, g=generator: f(n, x, s, g),
                device,
                min_seconds,
                bf16,
            )
            peak = _peak_mib(device)
            unfolded_seconds = _timed(
                lambda f=fast, n=network, s=s, g=generator: f(n, x, s, g, fold=False),
                device,
                min_seconds,
                bf16,
            )
            naive_seconds = _timed(
                lambda n=network, s=s, g=generator: engine.naive_samples(n, x, s, g),
                device,
                min_seconds,
                bf16,
            )
            flops = batch * (trunk_flops + s * rest_flops)
            records.append(
                {
                    "method": method,
                    "samples": s,
                    "batch": batch,
                    "precision": precision,
                    "engine_per_s": batch * s / engine_seconds,
                    "naive_per_s": batch * s / naive_seconds,
                    "speedup": naive_seconds / engine_seconds,
                    "engine_unfolded_per_s": batch * s / unfolded_seconds,
                    "speedup_unfolded": naive_seconds / unfolded_seconds,
                    "engine_gflops": flops / engine_seconds / 1e9,
                    "naive_gflops": batch * s * (trunk_flops + rest_flops) / naive_seconds / 1e9,
                    "engine_peak_mib": peak,
                    "flop_bound": _bound(trunk_flops, rest_flops, s),
                }
            )
            if method == "mc_dropconnect":  # the layout not chosen for this device and batch
                default = engine.dropconnect_layout(device, batch)
                other = "grouped" if default == "looped" else "looped"
                other_seconds = _timed(
                    lambda n=network, s=s, g=generator, o=other: engine.dropconnect_samples(
                        n, x, s, g, layout=o
                    ),
                    device,
                    min_seconds,
                    bf16,
                )
                records[-1]["other_layout"] = other
                records[-1]["other_layout_per_s"] = batch * s / other_seconds
    return records


def engine_settings(
    networks: dict[str, FaceCNN],
    batches: Sequence[int] = (1, 64),
    rows: Sequence[int] = (16, 64, 256, 1024),
    samples: int = 30,
    device: torch.device | None = None,
    min_seconds: float = 0.5,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """The measurements behind the engine's per-device defaults (`engine.MAX_ROWS`,
    `engine.dropconnect_layout`): per method and batch, images x samples per second at S =
    ``samples`` for each pass size in ``rows`` (dropout; DropConnect's grouped layout) and for
    DropConnect's looped layout (one pass per sample, so no pass size). Each record says
    whether it is the device's default setting and what share of the fastest it reaches."""
    bf16 = _is_bf16(precision)
    device = device or torch.device("cpu")
    default_rows = engine.for_device(engine.MAX_ROWS, device)
    records = []
    for method, network in networks.items():
        network = network.to(device).eval()
        if method == "mc_dropconnect":
            settings = [("grouped", r) for r in rows] + [("looped", None)]
        else:
            settings = [("batched", r) for r in rows]
        for batch in batches:
            x = torch.rand(batch, 1, 48, 48, device=device)
            x = x.contiguous(memory_format=torch.channels_last)
            group = []
            for layout, max_rows in settings:
                if layout == "batched":
                    run = engine.dropout_samples
                else:
                    run = functools.partial(engine.dropconnect_samples, layout=layout)
                generator = torch.Generator(device=device).manual_seed(0)
                seconds = _timed(
                    lambda r=run, n=network, x=x, m=max_rows, g=generator: r(n, x, samples, g, m),
                    device,
                    min_seconds,
                    bf16,
                )
                if layout == "batched":
                    is_default = max_rows == default_rows
                else:
                    is_default = layout == engine.dropconnect_layout(device, batch) and (
                        layout == "looped" or max_rows == default_rows
                    )
                group.append(
                    {
                        "method": method,
                        "batch": batch,
                        "samples": samples,
                        "precision": precision,
                        "layout": layout,
                        "max_rows": max_rows,
                        "per_s": batch * samples / seconds,
                        "default": is_default,
                    }
                )
            fastest = max(r["per_s"] for r in group)
            for record in group:
                record["share_of_fastest"] = record["per_s"] / fastest
            records += group
    return records


def placement_tradeoff(
    networks: dict[str, FaceCNN],
    images: np.ndarray,
    labels: np.ndarray,
    votes: np.ndarray,
    samples: int = 30,
    device: torch.device | None = None,
    precision: str = "auto",
) -> list[dict[str, Any]]:
    """Per method and placement: seconds for ``samples`` samples of all ``images`` (after a
    warm-up) beside the quality (accuracy, JSD to the votes, misclassification AUROC by mutual
    information)."""
    from bnnfer.inference.mc import mc_predict
    from bnnfer.models.methods import build_method

    device = device or torch.device("cpu")
    records = []
    for method, network in networks.items():
        for placement in ("all", "last", "head"):
            variant = with_placement(network, placement).to(device)
            model = build_method(method, [variant], samples=samples).eval()
            # warm-up on a few faces: folding the layers and CUDA's lazy start are not part of
            # the rate (on a GPU 1,000 faces take tens of ms; two unwarmed runs differed 2x)
            mc_predict(model, images[:8], samples=samples, seed=0, precision=precision)
            started = time.perf_counter()
            drawn = mc_predict(model, images, samples=samples, seed=0, precision=precision)
            drawn = drawn.numpy().astype(np.float64)
            seconds = time.perf_counter() - started
            drawn /= drawn.sum(axis=2, keepdims=True)
            mean = drawn.mean(axis=0)
            records.append(
                {
                    "method": method,
                    "placement": placement,
                    "precision": precision,
                    "samples": samples,
                    "images": len(images),
                    "seconds": seconds,
                    "images_per_s": len(images) / seconds,
                    "accuracy": metrics.accuracy(mean, labels),
                    "jsd": float(metrics.js_divergence(votes, mean).mean()),
                    "flop_bound": flop_bound(variant, samples),
                    "auroc_mi": metrics.misclassification_auroc(
                        metrics.mutual_information(drawn), mean, labels
                    ),
                }
            )
    return records


def end_to_end(
    methods: dict[str, Any],
    face: np.ndarray,
    split: Any | None = None,
    models_folder: str | Path | None = None,
    samples: int = 30,
    precision: str = "auto",
    repeats: int = 5,
) -> dict[str, Any]:
    """Seconds for one face through every method (the median of ``repeats`` runs after a
    warm-up; detection excluded) and, given a `FerPlusSplit` and the bundle folder, for the
    whole split the way the dashboard gets it: `bnnfer.inference.store.get_predictions` computing
    into an empty cache, then the same call served from that cache."""
    import tempfile

    from bnnfer.inference.computations import make_request
    from bnnfer.inference.mc import mc_predict
    from bnnfer.inference.store import get_predictions

    def one_face() -> float:
        started = time.perf_counter()
        for method in methods.values():
            draws = samples if method.sampled else None
            mc_predict(method, face[None], samples=draws, seed=0, precision=precision)
        return time.perf_counter() - started

    one_face()
    median = float(np.median([one_face() for _ in range(repeats)]))
    result: dict[str, Any] = {
        "precision": precision,
        "rows": list(methods),
        "one_face_all_methods_s": median,
    }
    if split is not None and models_folder is not None:
        request = make_request(methods, models_folder, split, None, samples, precision=precision)
        with tempfile.TemporaryDirectory() as cache:
            for key in ("split_all_methods_s", "split_from_cache_s"):
                started = time.perf_counter()
                served = get_predictions(methods, split, request, cache_dir=cache)
                result[key] = time.perf_counter() - started
            result["split_cache_source"] = served.source
        result["split_images"] = len(split)
    return result


def compile_vs_eager(
    methods: dict[str, Any], images: np.ndarray, samples: int = 30, precision: str = "auto"
) -> list[dict[str, Any]]:
    """Per MC method: seconds for ``samples`` samples of ``images`` eagerly (after a warm-up),
    the first compiled call (compiling included) and a compiled call after that."""
    import warnings

    from bnnfer.inference.mc import mc_predict

    records = []
    for key, method in methods.items():

        def run(compile: bool, m=method) -> float:
            started = time.perf_counter()
            mc_predict(m, images, samples=samples, seed=0, compile=compile, precision=precision)
            return time.perf_counter() - started

        run(False)
        eager = run(False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            first = run(True)
            steady = run(True)
        records.append(
            {
                "method": key,
                "samples": samples,
                "images": len(images),
                "eager_s": eager,
                "compile_first_call_s": first,
                "compiled_s": steady,
                "compiled_speedup": eager / steady,
                "fell_back": bool(caught),
            }
        )
    return records


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def format_table(records: list[dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for record in records:
        cells = []
        for c in columns:
            value = record[c]
            cells.append(f"{value:.3g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: str | Path, document: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(document, indent=2) + "\n")
