"""mc_predict, select_device, make_generator: inputs, seeding, batching, devices, threads."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch
from helpers.nets import tiny_network

from bnnfer.inference.mc import (
    describe_device,
    make_generator,
    mc_predict,
    native_bf16,
    resolve_precision,
    select_device,
)
from bnnfer.models.methods import Classical, DeepEnsemble, MCDropConnect, MCDropout, Method
from bnnfer.models.networks import FaceCNN

C = 8
HAS_CUDA = torch.cuda.is_available()
HAS_MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def make_net(stochastic: str = "dropout", placement: str = "all", seed: int = 0) -> FaceCNN:
    """A tiny eval-mode network with non-trivial BatchNorm statistics and a sharp head."""
    return tiny_network(
        stochastic,
        seed,
        placement=placement,
        batchnorm=("running_mean", "running_var"),
        head_scale=4.0,
    )


def uint8_faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def as_float(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(faces).float().div(255.0).unsqueeze(1)


@pytest.fixture(scope="module")
def mc_method() -> MCDropout:
    return MCDropout(make_net("dropout"), default_samples=6)


@pytest.fixture(scope="module")
def classical() -> Classical:
    return Classical(make_net("dropout"))


@pytest.fixture(scope="module")
def ensemble() -> DeepEnsemble:
    return DeepEnsemble([make_net(seed=s) for s in range(3)])


# --------------------------------------------------------------------------------------
# inputs and outputs


def test_uint8_and_float_inputs_give_the_same_result(mc_method: MCDropout) -> None:
    """uint8 (N, 48, 48) numpy, the same as float (N, 1, 48, 48) in [0, 1] (tensor or numpy)."""
    faces = uint8_faces(5)
    from_uint8 = mc_predict(mc_method, faces, seed=3)
    from_float = mc_predict(mc_method, as_float(faces), seed=3)
    from_numpy_float = mc_predict(mc_method, as_float(faces).numpy(), seed=3)
    from_uint8_tensor = mc_predict(mc_method, torch.from_numpy(faces), seed=3)
    assert torch.equal(from_uint8, from_float)
    assert torch.equal(from_uint8, from_numpy_float)
    assert torch.equal(from_uint8, from_uint8_tensor)
    from_float64 = mc_predict(mc_method, as_float(faces).double().numpy(), seed=3)
    torch.testing.assert_close(from_uint8, from_float64, rtol=1e-5, atol=1e-6)


def test_single_uint8_face_is_a_batch_of_one(classical: Classical) -> None:
    """A lone (48, 48) uint8 face is treated as N = 1."""
    face = uint8_faces(1)[0]
    out = mc_predict(classical, face)
    assert out.shape == (1, 1, C)
    assert torch.equal(out, mc_predict(classical, face[None]))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 1, 48, 48), dtype=np.uint8),  # uint8 must be (N, H, W)
        np.zeros((2, 48, 48), dtype=np.float32),  # float must be (N, 1, H, W)
        np.zeros((2, 3, 48, 48), dtype=np.float32),  # not grayscale
    ],
    ids=["uint8-4d", "float-3d", "float-rgb"],
)
def test_badly_shaped_images_raise(classical: Classical, bad: np.ndarray) -> None:
    """Shapes that are not a batch of grayscale faces are refused with ValueError."""
    with pytest.raises(ValueError):
        mc_predict(classical, bad)


@pytest.mark.parametrize("which", ["classical", "mc", "ensemble"])
def test_output_contract(which: str, request: pytest.FixtureRequest) -> None:
    """float32 (S, N, C) on the CPU, rows sum to 1; S defaults to the method's default."""
    method = request.getfixturevalue({"mc": "mc_method"}.get(which, which))
    out = mc_predict(method, uint8_faces(5), batch_size=2)
    expected_s = {"classical": 1, "mc": 6, "ensemble": 3}[which]
    assert out.shape == (expected_s, 5, C)
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    torch.testing.assert_close(out.sum(-1), torch.ones(expected_s, 5))
    if which == "mc":
        assert mc_predict(method, uint8_faces(2), samples=4).shape == (4, 2, C)


def test_inputs_are_not_modified(mc_method: MCDropout) -> None:
    """mc_predict does not write into the caller's arrays (uint8 or float)."""
    faces = uint8_faces(3)
    faces_copy = faces.copy()
    tensor = as_float(faces)
    tensor_copy = tensor.clone()
    mc_predict(mc_method, faces)
    mc_predict(mc_method, tensor)
    assert np.array_equal(faces, faces_copy)
    assert torch.equal(tensor, tensor_copy)


@pytest.mark.parametrize("which", ["classical", "mc", "ensemble"])
def test_empty_input_gives_zero_width_result(which: str, request: pytest.FixtureRequest) -> None:
    """N = 0 images -> an empty (S, 0, C) tensor, not an error."""
    method = request.getfixturevalue({"mc": "mc_method"}.get(which, which))
    expected_s = {"classical": 1, "mc": 6, "ensemble": 3}[which]
    out = mc_predict(method, np.zeros((0, 48, 48), dtype=np.uint8))
    assert out.shape == (expected_s, 0, C)
    assert mc_predict(method, torch.zeros(0, 1, 48, 48)).shape == (expected_s, 0, C)
    if which == "mc":
        assert mc_predict(method, np.zeros((0, 48, 48), np.uint8), samples=4).shape == (4, 0, C)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one_raises(classical: Classical, batch_size: int) -> None:
    """batch_size < 1 is a ValueError."""
    with pytest.raises(ValueError, match="batch_size"):
        mc_predict(classical, uint8_faces(2), batch_size=batch_size)


def test_bad_samples_raise(classical: Classical, mc_method: MCDropout) -> None:
    """mc_predict validates samples through the method."""
    with pytest.raises(ValueError):
        mc_predict(classical, uint8_faces(2), samples=5)
    with pytest.raises(ValueError):
        mc_predict(mc_method, uint8_faces(2), samples=0)


def test_progress_reports_each_batch(classical: Classical) -> None:
    """progress(done, total) after every batch, ending at (N, N)."""
    calls: list[tuple[int, int]] = []
    mc_predict(classical, uint8_faces(5), batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


# --------------------------------------------------------------------------------------
# seeding and batching


def test_same_seed_same_samples_different_seed_different(mc_method: MCDropout) -> None:
    """seed fixes the samples exactly; another seed (or seed=None) gives other samples."""
    faces = uint8_faces(4)
    a = mc_predict(mc_method, faces, seed=7)
    b = mc_predict(mc_method, faces, seed=7)
    c = mc_predict(mc_method, faces, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    d = mc_predict(mc_method, faces, seed=None)
    e = mc_predict(mc_method, faces, seed=None)
    assert not torch.equal(d, e)


def test_mc_dropconnect_is_seeded_too() -> None:
    """The DropConnect path also draws only from the per-call generator."""
    method = MCDropConnect(make_net("dropconnect", "last"), default_samples=4)
    faces = uint8_faces(3)
    assert torch.equal(mc_predict(method, faces, seed=1), mc_predict(method, faces, seed=1))
    assert not torch.equal(mc_predict(method, faces, seed=1), mc_predict(method, faces, seed=2))


def test_mc_predict_does_not_touch_the_global_rng(mc_method: MCDropout) -> None:
    """Masks come from the per-call generator: torch's global RNG state is unchanged."""
    state = torch.random.get_rng_state()
    mc_predict(mc_method, uint8_faces(3), seed=0)
    mc_predict(mc_method, uint8_faces(3), seed=None)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("which", ["classical", "ensemble"])
def test_deterministic_methods_do_not_depend_on_batch_size(
    which: str, request: pytest.FixtureRequest
) -> None:
    """Classical and ensemble results are the same for any batch_size (and any seed)."""
    method: Method = request.getfixturevalue(which)
    faces = uint8_faces(7)
    reference = mc_predict(method, faces, batch_size=256, seed=0)
    for batch_size in (1, 3, 7):
        out = mc_predict(method, faces, batch_size=batch_size, seed=batch_size)
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)


def test_mc_same_seed_and_batch_size_is_reproducible(mc_method: MCDropout) -> None:
    """MC samples depend on the batch size, but for a fixed (seed, batch_size) they repeat."""
    faces = uint8_faces(7)
    for batch_size in (2, 7):
        a = mc_predict(mc_method, faces, batch_size=batch_size, seed=4)
        b = mc_predict(mc_method, faces, batch_size=batch_size, seed=4)
        assert torch.equal(a, b)


# --------------------------------------------------------------------------------------
# devices


def test_select_device_cpu() -> None:
    """'cpu' (string or torch.device) is always available."""
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    assert describe_device(torch.device("cpu")).startswith("CPU")


@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="an accelerator is present")
def test_select_device_auto_falls_back_to_cpu() -> None:
    """'auto' and None pick the CPU when there is no CUDA and no MPS."""
    assert select_device("auto") == torch.device("cpu")
    assert select_device(None) == torch.device("cpu")
    assert select_device() == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_select_device_cuda_without_cuda_raises() -> None:
    """Asking for CUDA where there is none is a ValueError, not a later crash."""
    with pytest.raises(ValueError, match="CUDA"):
        select_device("cuda")
    with pytest.raises(ValueError):
        select_device("cuda:0")


@pytest.mark.skipif(HAS_MPS, reason="MPS is available here")
def test_select_device_mps_without_mps_raises() -> None:
    with pytest.raises(ValueError, match="MPS"):
        select_device("mps")


def test_select_device_refuses_nonsense() -> None:
    """An unparseable device name raises (torch's RuntimeError)."""
    with pytest.raises((RuntimeError, ValueError)):
        select_device("toaster")


def test_make_generator_seeding() -> None:
    """A seed gives a reproducible stream; None draws fresh entropy."""
    cpu = torch.device("cpu")
    a = torch.rand(4, generator=make_generator(cpu, 5))
    b = torch.rand(4, generator=make_generator(cpu, 5))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.rand(4, generator=make_generator(cpu, 6)))
    c = torch.rand(4, generator=make_generator(cpu, None))
    d = torch.rand(4, generator=make_generator(cpu, None))
    assert not torch.equal(c, d)


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_device_argument_on_cpu(mc_method: MCDropout, device: object) -> None:
    """device=None (the model's own) and explicit 'cpu' give the same samples; the method
    stays on the CPU and in eval mode."""
    faces = uint8_faces(3)
    reference = mc_predict(mc_method, faces, seed=2)
    out = mc_predict(mc_method, faces, seed=2, device=device)  # type: ignore[arg-type]
    assert torch.equal(out, reference)
    assert mc_method.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in mc_method.parameters())
    assert not mc_method.network.training


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_other_device_runs_a_copy_and_leaves_the_model_where_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """device='cuda' for a CPU model: results close to the CPU ones (float32, TF32 off: cuDNN
    would otherwise round the convolutions' inputs), model stays on the CPU."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    method = Classical(make_net())
    faces = uint8_faces(4)
    on_cpu = mc_predict(method, faces, precision="fp32")
    on_gpu = mc_predict(method, faces, device="cuda", precision="fp32")
    assert on_gpu.device.type == "cpu"
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-3, atol=1e-4)
    assert all(p.device.type == "cpu" for p in method.parameters())


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_unavailable_device_raises_and_leaves_model_alone(classical: Classical) -> None:
    """mc_predict(device='cuda') without CUDA raises ValueError; the model is untouched."""
    with pytest.raises(ValueError):
        mc_predict(classical, uint8_faces(2), device="cuda")
    assert classical.device == torch.device("cpu")


# --------------------------------------------------------------------------------------
# concurrency


@pytest.mark.parametrize("kind", ["dropout", "dropconnect"])
def test_concurrent_calls_on_a_shared_method_match_solo_calls(kind: str) -> None:
    """8 threads call mc_predict at once on one shared MC method, each with its own seed;
    each gets exactly what the same call gives alone, and the model is left unchanged."""
    if kind == "dropout":
        method: Method = MCDropout(make_net("dropout"), default_samples=8)
    else:
        method = MCDropConnect(make_net("dropconnect", "last"), default_samples=8)
    faces = uint8_faces(6)
    seeds = list(range(100, 108))
    solo = {seed: mc_predict(method, faces, batch_size=4, seed=seed) for seed in seeds}
    assert len({tuple(out.flatten()[:20].tolist()) for out in solo.values()}) == len(seeds)
    state = {k: v.clone() for k, v in method.state_dict().items()}

    barrier = threading.Barrier(len(seeds))
    results: dict[int, list[torch.Tensor]] = {seed: [] for seed in seeds}
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                results[seed].append(mc_predict(method, faces, batch_size=4, seed=seed))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    for seed in seeds:
        assert len(results[seed]) == 3
        for out in results[seed]:
            assert torch.equal(out, solo[seed]), f"seed {seed} differs under concurrency"
    assert not any(m.training for net in method.networks for m in net.modules())
    for key, value in method.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_compiled_forward_draws_the_same_samples_as_eager() -> None:
    # torch.compile must not change what is sampled: the masks come from the same generator
    # in the same order, so the same seed gives the same samples up to float rounding. An
    # error-level filter makes a silent fallback to eager fail the test.
    method = MCDropout(make_net("dropout")).eval()
    faces = uint8_faces(6)
    eager = mc_predict(method, faces, samples=5, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        compiled = mc_predict(method, faces, samples=5, seed=11, compile=True)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)


def test_compile_failure_falls_back_to_eager_with_the_same_draws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_compile(fn):
        def compiled(*args, **kwargs):
            torch.rand(3, generator=kwargs["generator"])  # fails after using the generator
            raise RuntimeError("no C++ compiler found")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    method = MCDropout(make_net("dropout", seed=2)).eval()
    faces = uint8_faces(5)
    eager = mc_predict(method, faces, samples=4, seed=3, batch_size=2)
    with pytest.warns(RuntimeWarning, match="torch.compile of mc_dropout failed.*no C\\+\\+"):
        fallback = mc_predict(method, faces, samples=4, seed=3, batch_size=2, compile=True)
    torch.testing.assert_close(fallback, eager, atol=0, rtol=0)
    with warnings.catch_warnings():  # the failure is remembered: no second warning
        warnings.simplefilter("error", RuntimeWarning)
        mc_predict(method, faces, samples=4, seed=3, compile=True)


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "speedup", "auto"),
    [
        (False, False, 2.0, "fp32"),  # no bf16 in hardware: emulated, never timed
        (True, True, 0.5, "bf16"),  # AMX: bf16, whatever a timing would say
        (False, True, 2.0, "bf16"),  # AVX-512 BF16 alone, timed faster (as on a Zen 4 EPYC)
        (False, True, 0.8, "fp32"),  # AVX-512 BF16 alone, timed slower (a Xeon hiding AMX)
        (False, True, 1.05, "fp32"),  # within the margin: fp32
    ],
)
def test_auto_precision_takes_bf16_only_where_it_is_faster(
    monkeypatch, amx, avx512_bf16, speedup, auto
):
    """ "auto" is bf16 where the CPU has AMX, or AVX-512 BF16 and bf16 timed at least
    BF16_MIN_SPEEDUP times as fast as fp32; the timing is asked only in that last case."""
    from bnnfer.inference import mc

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    timed = []
    monkeypatch.setattr(mc, "cpu_bf16_speedup", lambda: timed.append(1) or speedup)
    cpu = torch.device("cpu")
    assert mc.bf16_pays(cpu) is (auto == "bf16")
    assert resolve_precision("auto", cpu) == auto
    assert bool(timed) is (avx512_bf16 and not amx)
    assert native_bf16(cpu) is (amx or avx512_bf16)  # hardware, whatever its speed


def test_the_bf16_timing_is_a_positive_ratio_and_leaves_the_global_rng_alone():
    from bnnfer.inference import mc

    mc.cpu_bf16_speedup.cache_clear()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    speedup = mc.cpu_bf16_speedup()
    assert speedup > 0 and np.isfinite(speedup)
    torch.testing.assert_close(torch.rand(3), expected)
    assert mc.cpu_bf16_speedup() == speedup  # timed once per process


@pytest.mark.parametrize("hardware", [False, True])
def test_auto_precision_is_bf16_only_where_the_cpu_has_bf16_hardware(monkeypatch, hardware):
    """ "auto" follows the CPU's AMX / AVX-512 BF16 probes (AMX among them, so no timing);
    fp32 and bf16 are what they say."""
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: hardware, raising=False)
    cpu = torch.device("cpu")
    assert native_bf16(cpu) is hardware
    assert resolve_precision("auto", cpu) == ("bf16" if hardware else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert native_bf16(torch.device("meta")) is False
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("half", cpu)
