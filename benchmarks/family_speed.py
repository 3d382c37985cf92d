"""Training speed of the two network families on one CPU thread, and what a schedule costs.

Each measurement is the real training loop (`bnnfer.training.train.fit`: the bundle's recipe,
augmentation on, no Valid pass) for ``--steps`` steps on synthetic faces, one thread, in a fresh
process per (family, precision): the bundle's VGG network (1.24 M parameters) against the separable
family (`bnnfer.models.networks`, 0.17 M with a 128-unit head). From the images per second it gives
the hours of an ``--epochs`` schedule over FER+ Train for one process per core. Writes
``benchmarks/results/family_speed.json``:

    OMP_NUM_THREADS=1 python benchmarks/family_speed.py [--steps 40] [--epochs 24 60 100]
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
# FER+ Train faces the bundled runs trained on (their checkpoints' "train_faces")
FERPLUS_TRAIN_FACES = 28_385
# the separable network measured: the bundle's widths with a 128-unit head (0.17 M parameters)
SEPARABLE = {"family": "separable", "head_width": 128}


def child(family: str, steps: int, precision: str, out: Path) -> None:
    """Train for ``steps`` steps on one thread; the log's images/s is the result."""
    from bnnfer.data.split import FerPlusSplit
    from bnnfer.training.bundle import BUNDLE_TRAINING
    from bnnfer.training.train import fit

    torch.set_num_threads(1)
    network = BUNDLE_TRAINING.network
    if family == "separable":
        network = replace(network, **SEPARABLE)
    config = replace(
        BUNDLE_TRAINING, network=network, max_steps=steps, epochs=1, precision=precision
    )
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


def measure(family: str, steps: int, precision: str, folder: Path) -> float:
    """Images per second of one single-threaded training of ``family`` in ``precision``."""
    out = folder / f"{family}-{precision}"
    argv = [sys.executable, __file__, "--child", family, "--steps", str(steps)]
    subprocess.run([*argv, "--precision", precision, "--out", str(out)], check=True)
    log = [json.loads(line) for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
    return log[-1]["images_per_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per measurement")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--epochs", type=int, nargs="+", default=[24, 60, 100])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/family_speed.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a child's family
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.steps, args.precisions[0], Path(args.out))
        return 0

    from bnnfer.inference.mc import native_bf16
    from bnnfer.models.networks import FaceCNN, count_parameters
    from bnnfer.training.bundle import BUNDLE_TRAINING

    families = {"vgg": BUNDLE_TRAINING.network}
    families["separable"] = replace(BUNDLE_TRAINING.network, **SEPARABLE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, network in families.items():
            for precision in args.precisions:
                rate = measure(family, args.steps, precision, Path(tmp))
                hours = {
                    str(e): round(e * FERPLUS_TRAIN_FACES / rate / 3600, 2) for e in args.epochs
                }
                rows.append(
                    {
                        "family": family,
                        "parameters": count_parameters(FaceCNN(network)),
                        "precision": precision,
                        "images_per_s": rate,
                        "hours_per_network": hours,
                    }
                )
                print(json.dumps(rows[-1]))
    document = {
        "machine": bench.machine(),
        "bf16_in_hardware": native_bf16(torch.device("cpu")),
        "threads": 1,
        "steps": args.steps,
        "batch_size": BUNDLE_TRAINING.batch_size,
        "train_faces": FERPLUS_TRAIN_FACES,
        "note": "hours leave out the Valid pass after each epoch",
        "rows": rows,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
