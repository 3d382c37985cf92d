"""Whether ``precision="auto"`` picks the faster precision on this machine's CPU.

`bnnfer.inference.mc.bf16_pays` takes bf16 where the CPU has AMX, fp32 where it has no bf16 in
hardware, and on a CPU with AVX-512 BF16 but no AMX times a small convolution in both
(`cpu_bf16_speedup`), because such CPUs differ. This benchmark sets that choice beside the
workloads it stands for, each in fp32 and in bf16 autocast, with this process's threads:

* one face through every bundled row at S = 30 (`bench.end_to_end`, the median of 5 runs);
* 256 faces through every row with only the heads sampled, as the dashboard reads an uncached
  split on a CPU (`bnnfer.inference.mc.fast_placement`);
* the training step of the bundle's recipe, one process with every thread
  (`train_workers.child` on synthetic faces, ``--steps`` steps).

Each workload's *bf16 speed-up* is fp32's seconds over bf16's; the choice is right where it
falls on the same side of 1 as the workloads'. Writes
``benchmarks/results/bf16_choice.json`` (``--out`` for another machine's file):

    python benchmarks/bf16_choice.py [--steps 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import bench
import numpy as np
import torch
import train_workers

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16")


def split_seconds(methods: dict, faces: np.ndarray, precision: str) -> float:
    """Seconds for ``faces`` through every row (S = 30 for the sampled ones)."""
    from bnnfer.inference.mc import mc_predict

    started = time.perf_counter()
    for method in methods.values():
        mc_predict(
            method, faces, samples=30 if method.sampled else None, seed=0, precision=precision
        )
    return time.perf_counter() - started


def training_images_per_s(steps: int, precision: str) -> float:
    """Images per second of the recipe's training step in a fresh process with every thread
    (`train_workers.run`'s one-process layout)."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = train_workers.run([torch.get_num_threads()], steps, precision, Path(tmp))
        return float(layout["images_per_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per precision")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bf16_choice.json"))
    args = parser.parse_args(argv)

    from bnnfer.inference.mc import (
        BF16_MIN_SPEEDUP,
        bf16_pays,
        cpu_amx,
        cpu_bf16_speedup,
        fast_placement,
        native_bf16,
    )
    from bnnfer.training.bundle import load_bundle

    cpu = torch.device("cpu")
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    faces = rng.integers(0, 256, (256, 48, 48), dtype=np.uint8)
    methods = load_bundle(device=cpu)
    headed = load_bundle(device=cpu, placement=fast_placement(cpu))
    seconds: dict[str, dict[str, float]] = {"one_face_all_rows": {}, "faces_256_heads": {}}
    for precision in PRECISIONS:
        one = bench.end_to_end(methods, face, precision=precision)["one_face_all_methods_s"]
        seconds["one_face_all_rows"][precision] = round(one, 4)
        split_seconds(headed, faces[:16], precision)  # warm-up
        seconds["faces_256_heads"][precision] = round(split_seconds(headed, faces, precision), 3)
    training = {p: training_images_per_s(args.steps, p) for p in PRECISIONS}
    speedups = {name: round(s["fp32"] / s["bf16"], 3) for name, s in seconds.items()}
    speedups["training"] = round(training["bf16"] / training["fp32"], 3)
    amx, hardware = cpu_amx(), native_bf16(cpu)
    timed = hardware and not amx
    document = {
        "machine": bench.machine(),
        "bf16_in_hardware": hardware,
        "amx": amx,
        # the probe's own speed-up, where bf16_pays times it
        "probe_speedup": round(cpu_bf16_speedup(), 3) if timed else None,
        "min_speedup": BF16_MIN_SPEEDUP,
        "auto_picks": "bf16" if bf16_pays(cpu) else "fp32",
        "seconds": seconds,
        "training_images_per_s": training,
        "training_steps": args.steps,
        "bf16_speedup": speedups,
        "faster": {name: "bf16" if s > 1 else "fp32" for name, s in speedups.items()},
    }
    bench.write_json(args.out, document)
    print(json.dumps(document, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
