"""How wide the bundle's network may grow within the issue's budgets, before training any.

Wider stages are one lever toward sharper networks; they cost inference time, bundle size and
training time. Per width multiplier (every stage's channels and the head scaled, rounded to a
multiple of 8), this builds the eight rows of the comparison from untrained networks of that
shape (timing does not depend on the weights) and measures:

* one face through every row at S = 30, the median of repeated runs (`bench.end_to_end`), in
  each precision asked for; the budget is 0.3 s on a CPU with bf16 in hardware and 0.8 s on a
  2-core CPU without;
* parameters, and the bundle's size in float16 (the files hold 12 networks: dropout,
  its temperature-scaled copy, DropConnect, 5 ensemble members, the soft-trained network and
  the 3 of the soft-trained ensemble); budget 40 MB;
* multiply-adds per face (`bench.layer_flops`), which training time scales with.

Writes ``benchmarks/results/width_budget.json``:

    python benchmarks/width_budget.py [--multipliers 1 1.25 1.5 2] [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import bench
import numpy as np
import torch

from bnnfer import build_method
from bnnfer.allocator import keep_freed_memory
from bnnfer.inference.mc import native_bf16
from bnnfer.models.networks import FaceCNN, NetworkConfig
from bnnfer.training.bundle import BUNDLE_NETWORK

ROOT = Path(__file__).resolve().parents[1]
# network copies in the bundle's files (dropout.safetensors and dropout_ts.safetensors are two,
# soft.safetensors and the soft ensemble's first member two more)
NETWORKS_IN_FILES = 12


def scaled(config: NetworkConfig, multiplier: float) -> NetworkConfig:
    """``config`` with every stage's channels and the head width times ``multiplier``, each
    rounded to a multiple of 8 (what convolution kernels vectorise over)."""
    if multiplier <= 0:
        raise ValueError(f"multiplier must be positive, got {multiplier}")

    def width(channels: int) -> int:
        return max(8, 8 * round(channels * multiplier / 8))

    return replace(
        config,
        widths=tuple(width(c) for c in config.widths),
        head_width=width(config.head_width) if config.head_width else 0,
    )


def rows(config: NetworkConfig, samples: int) -> dict:
    """The comparison's eight rows, untrained, each on its own networks as in the bundle."""
    torch.manual_seed(0)

    def net(stochastic: str = "dropout") -> FaceCNN:
        return FaceCNN(replace(config, stochastic=stochastic)).eval()

    dropout, dropconnect, soft = net(), net("dropconnect"), net()
    members = [dropout, *(net() for _ in range(4))]
    soft_members = [soft, net(), net()]
    return {
        "classical": build_method("classical", [dropout]),
        "classical_ts": build_method("classical", [dropout], temperature=1.5),
        "mc_dropout": build_method("mc_dropout", [dropout], samples=samples),
        "mc_dropconnect": build_method("mc_dropconnect", [dropconnect], samples=samples),
        "ensemble": build_method("ensemble", members),
        "classical_soft": build_method("classical", [soft]),
        "mc_dropout_soft": build_method("mc_dropout", [soft], samples=samples),
        "ensemble_soft": build_method("ensemble", soft_members),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multipliers", type=float, nargs="+", default=[1.0, 1.25, 1.5, 2.0])
    parser.add_argument("--precision", nargs="+", default=None, help="default: fp32, and bf16")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/width_budget.json"))
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the CLI and the dashboard run (see bnnfer.allocator)
    bf16 = native_bf16(torch.device("cpu"))
    precisions = args.precision or (["fp32", "bf16"] if bf16 else ["fp32"])

    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    records = []
    for multiplier in args.multipliers:
        config = scaled(BUNDLE_NETWORK, multiplier)
        network = FaceCNN(config).eval()
        parameters = sum(p.numel() for p in network.parameters())
        methods = rows(config, args.samples)
        record = {
            "multiplier": multiplier,
            "widths": list(config.widths),
            "head_width": config.head_width,
            "parameters": parameters,
            "bundle_mb_fp16": round(NETWORKS_IN_FILES * parameters * 2 / 1e6, 1),
            "flops_per_face": bench.layer_flops(network),
        }
        for precision in precisions:
            timed = bench.end_to_end(
                methods, face, samples=args.samples, precision=precision, repeats=args.repeats
            )
            record[f"one_face_s_{precision}"] = timed["one_face_all_methods_s"]
        records.append(record)
        print(json.dumps(record), flush=True)
    document = {
        "machine": bench.machine(),
        "bf16_in_hardware": bf16,
        "samples": args.samples,
        "rows": list(methods),  # the same at every width
        "budget": {"one_face_s_fp32": 0.8, "one_face_s_bf16": 0.3, "bundle_mb": 40},
        "records": records,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
