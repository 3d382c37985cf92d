"""The MC engine on a CUDA GPU (skipped without one): the DropConnect layouts give the samples
of S separate passes for the same seed, batched dropout agrees with the naive loop in its
moments, bf16 autocast agrees with float32 within tolerance, and the bundle's methods give
the same predictive distribution on the GPU as on the CPU.

CUDA draws from its own generator (Philox), so GPU and CPU samples differ for the same seed;
across devices only the distributions are compared. cuDNN convolutions use TF32 by default,
which rounds inputs to 10 mantissa bits: the exact-sample checks turn it off."""

from __future__ import annotations

import pytest
import torch
from helpers.nets import tiny_network

from bnnfer.inference.mc import mc_predict, native_bf16
from bnnfer.models import engine
from bnnfer.models.methods import build_method
from bnnfer.models.networks import FaceCNN

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


def _net(kind: str, placement: str = "all") -> FaceCNN:
    net = tiny_network(
        kind,
        0,
        widths=(8, 16, 16),
        convs_per_stage=2,
        head_width=32,
        placement=placement,
        block_rate=0.3,
        head_rate=0.4,
    )
    for module in net.modules():  # non-trivial BatchNorm statistics, so folding matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return net


def _images(n: int, device: torch.device = CUDA) -> torch.Tensor:
    x = torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(n))
    return x.to(device).contiguous(memory_format=torch.channels_last)


@pytest.fixture
def no_tf32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device=CUDA).manual_seed(seed)


def test_the_gpu_defaults_are_large_passes_and_grouped_dropconnect_for_small_batches() -> None:
    assert engine.for_device(engine.MAX_ROWS, CUDA) == engine.MAX_ROWS["other"]
    assert engine.dropconnect_layout(CUDA, 1) == engine.dropconnect_layout(CUDA, 255) == "grouped"
    assert engine.dropconnect_layout(CUDA, 256) == "looped"


@pytest.mark.usefixtures("no_tf32")
@pytest.mark.parametrize("placement", ["all", "last", "head"])
@pytest.mark.parametrize(
    ("layout", "max_rows"), [("grouped", None), ("grouped", 20), ("looped", None)]
)
def test_dropconnect_on_the_gpu_equals_separate_passes(placement, layout, max_rows) -> None:
    net = _net("dropconnect", placement).to(CUDA)
    x = _images(9)
    with torch.inference_mode():
        naive = engine.naive_samples(net, x, 8, _generator(3))
        fast = engine.dropconnect_samples(net, x, 8, _generator(3), max_rows, layout=layout)
    assert fast.shape == naive.shape == (8, 9, 8)
    assert fast.device.type == "cuda"
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-4)
    assert (naive[0] - naive[1]).abs().max() > 1e-3  # the samples really differ


def test_batched_dropout_on_the_gpu_matches_the_naive_moments() -> None:
    net = _net("dropout").to(CUDA)
    x = _images(3)
    with torch.inference_mode():
        a = engine.dropout_samples(net, x, 400, _generator(5))
        b = engine.dropout_samples(net, x, 400, _generator(5))
        naive = engine.naive_samples(net, x, 400, _generator(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # seeded: the same draws again
    pa, pn = a.softmax(-1), naive.softmax(-1)
    assert (pa.mean(0) - pn.mean(0)).abs().max() < 0.05
    assert (pa.std(0) - pn.std(0)).abs().max() < 0.05


@pytest.mark.parametrize("method_name", ["classical", "mc_dropout", "mc_dropconnect"])
def test_bf16_on_the_gpu_agrees_with_fp32(method_name: str) -> None:
    """The GPU's bf16 autocast (what precision="auto" picks there) gives probabilities within
    2e-2 of float32 for the same seed (the same masks: the draws are float32 either way)."""
    assert native_bf16(CUDA)
    kind = "dropconnect" if method_name == "mc_dropconnect" else "dropout"
    method = build_method(method_name, [_net(kind).to(CUDA)]).eval()
    x = _images(16)
    samples = None if method_name == "classical" else 10
    full = mc_predict(method, x, samples=samples, seed=2, precision="fp32")
    half = mc_predict(method, x, samples=samples, seed=2, precision="auto")
    assert full.device.type == half.device.type == "cpu"
    torch.testing.assert_close(half, full, rtol=0, atol=2e-2)


@pytest.mark.parametrize("kind", ["dropout", "dropconnect"])
def test_the_gpu_and_the_cpu_give_the_same_predictive_distribution(kind: str) -> None:
    """Different generators, same distribution: the MC means over 500 samples agree."""
    method = build_method(f"mc_{kind}", [_net(kind)]).eval()
    x = _images(4, torch.device("cpu"))
    on_cpu = mc_predict(method, x, samples=500, seed=1, precision="fp32")
    on_gpu = mc_predict(method, x, samples=500, seed=1, precision="fp32", device="cuda")
    assert on_gpu.shape == on_cpu.shape == (500, 4, 8)
    assert (on_gpu.mean(0) - on_cpu.mean(0)).abs().max() < 0.05
    assert (on_gpu.std(0) - on_cpu.std(0)).abs().max() < 0.05
