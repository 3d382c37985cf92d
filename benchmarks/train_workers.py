"""Training throughput on the CPU: one process with every core's thread against one
single-threaded process per core, the choice behind ``bnnfer train-all``'s default workers.

Each run is the real training loop (`bnnfer.training.train.fit`: the bundle's network and recipe,
augmentation on, no Valid pass) for ``--steps`` steps on synthetic faces, in a fresh process
with its thread count set; the parallel layout starts its processes together and adds their
images per second. Both layouts are measured in one run, so their ratio is. Writes
``benchmarks/results/train_workers.json``:

    python benchmarks/train_workers.py [--steps 40] [--precision auto]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import bench
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def child(steps: int, threads: int, precision: str, out: Path) -> None:
    """Train for ``steps`` steps with ``threads`` threads; the log's images/s is the result."""
    from bnnfer.data.split import FerPlusSplit
    from bnnfer.training.bundle import BUNDLE_TRAINING
    from bnnfer.training.train import fit

    torch.set_num_threads(threads)
    config = replace(BUNDLE_TRAINING, max_steps=steps, epochs=1, precision=precision)
    faces = config.batch_size * steps
    rng = np.random.default_rng(0)
    votes = np.zeros((faces, 10), np.int64)
    votes[np.arange(faces), rng.integers(0, 8, faces)] = 10
    split = FerPlusSplit(
        "train",
        rng.integers(0, 256, (faces, 48, 48), dtype=np.uint8),
        votes,
        np.array([f"synthetic{i:06d}.png" for i in range(faces)]),
    )
    fit(config, split, None, out)


def run(layout: list[int], steps: int, precision: str, folder: Path) -> dict:
    """Start one child per entry of ``layout`` (its thread count) together; their summed rate."""
    children = []
    for i, threads in enumerate(layout):
        out = folder / f"{len(layout)}x{threads}-{i}"
        argv = [sys.executable, __file__, "--child", str(threads), "--steps", str(steps)]
        argv += ["--precision", precision, "--out", str(out)]
        children.append((out, subprocess.Popen(argv)))
    rates = []
    for out, process in children:
        if process.wait() != 0:
            raise SystemExit(f"a training process failed (exit {process.returncode})")
        log = [json.loads(line) for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
        rates.append(log[-1]["images_per_s"])
    return {
        "processes": len(layout),
        "threads_each": layout[0],
        "images_per_s_each": rates,
        "images_per_s": round(sum(rates), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per process")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--cores", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/train_workers.json"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # a child's thread count
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.steps, args.child, args.precision, Path(args.out))
        return 0

    from bnnfer.inference.mc import native_bf16, resolve_precision
    from bnnfer.training.bundle import BUNDLE_TRAINING, bundle_jobs

    with tempfile.TemporaryDirectory() as tmp:
        layouts = {
            "one process": run([args.cores], args.steps, args.precision, Path(tmp)),
            "one per core": run([1] * args.cores, args.steps, args.precision, Path(tmp)),
        }
    one, per_core = (layouts[k]["images_per_s"] for k in ("one process", "one per core"))
    runs = json.loads((ROOT / "bnnfer/assets/models/dropout.json").read_text())["metadata"]["runs"]
    document = {
        "machine": bench.machine(),
        "bf16_in_hardware": native_bf16(torch.device("cpu")),
        "cores": args.cores,
        "precision": resolve_precision(args.precision, torch.device("cpu")),
        "steps": args.steps,
        "batch_size": BUNDLE_TRAINING.batch_size,
        "layouts": layouts,
        "per_core_over_one": round(per_core / one, 3),
        # what the bundle's training asks for, to turn the rates into hours
        "bundle": {
            # all each job trains (`TrainConfig.epochs_to_train`), as train-all deals them out
            "epochs": [job.config.epochs_to_train for job in bundle_jobs()],
            "train_faces": runs["dropout"]["train_faces"],
        },
    }
    bench.write_json(args.out, document)
    print(json.dumps(document, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
