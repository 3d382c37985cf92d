"""MC inference benchmark: `python benchmarks/mc_inference.py [options]`.

Measures images x samples per second of the MC engine and of the naive loop (S full passes) for
each method and S, the achieved GFLOP/s against a large matmul in the same run, peak memory, the
cost and Valid quality of each stochastic-layer placement, and end-to-end timings. Prints the
tables and writes them as JSON (default benchmarks/results/mc_inference.json). The functions it
calls are in benchmarks/bench.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bench

from bnnfer.allocator import keep_freed_memory
from bnnfer.cli import DATA_HELP
from bnnfer.data.ferplus import load_ferplus
from bnnfer.data.split import FerPlusError
from bnnfer.models.checkpoints import CheckpointError
from bnnfer.training.bundle import DEFAULT_BUNDLE_DIR

COLUMNS = [
    "method",
    "samples",
    "precision",
    "engine_per_s",
    "naive_per_s",
    "speedup",
    "speedup_unfolded",
    "flop_bound",
    "speedup_at_peak",
    "engine_gflops",
    "engine_share_of_peak",
    "engine_peak_mib",
]


def run(args: argparse.Namespace) -> int:
    import torch

    from bnnfer.inference.mc import native_bf16, select_device
    from bnnfer.training.bundle import load_bundle

    device = select_device(args.device)
    models = Path(args.models)
    networks, trained = bench.bench_networks(models, device)
    if not trained:
        print(f"[bench] no trained bundle in {models}: timing untrained networks", file=sys.stderr)
    precisions = args.precision or ["fp32", *(["bf16"] if native_bf16(device) else [])]
    document: dict = {
        "machine": bench.machine(),
        "device": str(device),
        "precisions": precisions,
        "matmul_peak_gflops": {},
        # cuDNN runs float32 convolutions in TF32 by default: compare them with a TF32 product
        "fp32_peak_is_tf32": device.type == "cuda" and torch.backends.cudnn.allow_tf32,
        "engine_vs_naive": [],
    }
    for precision in precisions:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        tf32 = precision == "fp32" and document["fp32_peak_is_tf32"]
        peak = document["matmul_peak_gflops"][precision] = bench.matmul_peak(
            device, dtype, size=args.peak_size, tf32=tf32
        )
        print(f"{precision} matmul peak on {device}: {peak:.1f} GFLOP/s")
        records = bench.engine_vs_naive(
            networks,
            samples=args.samples,
            batch=args.batch,
            device=device,
            min_seconds=args.seconds,
            precision=precision,
        )
        for record in records:
            record["engine_share_of_peak"] = record["engine_gflops"] / peak
            # the most the engine can reach at this precision: its FLOP bound, run at the
            # matmul peak, against the naive loop as fast as it ran
            record["speedup_at_peak"] = record["flop_bound"] * peak / record["naive_gflops"]
        document["engine_vs_naive"] += records
        print(bench.format_table(records, COLUMNS))
    split = None
    try:
        started = time.perf_counter()
        split = load_ferplus(args.data, splits=["valid"])["valid"]
        document["load_valid_from_cache_s"] = time.perf_counter() - started
    except FerPlusError as error:
        print(f"[bench] no FER+ data ({error}): skipping the quality figures", file=sys.stderr)
    if split is not None and trained:
        subset = split.subset(slice(0, args.quality_faces))
        document["placements"] = []
        for precision in precisions:
            document["placements"] += bench.placement_tradeoff(
                networks,
                subset.images,
                subset.labels,
                subset.distribution,
                device=device,
                precision=precision,
            )
        columns = ["method", "placement", "precision", "images", "images_per_s", "accuracy"]
        print(bench.format_table(document["placements"], [*columns, "jsd", "auroc_mi"]))
        methods = load_bundle(models, device=device)
        whole = split if args.whole_split else None
        document["end_to_end"] = [
            bench.end_to_end(methods, split.images[0], whole, models, precision=precision)
            for precision in precisions
        ]
        print(json.dumps(document["end_to_end"], indent=2))
        if args.compile:
            mc = {k: m for k, m in methods.items() if m.sampled}
            document["compile"] = bench.compile_vs_eager(
                mc, split.images[: args.batch * 4], precision=precisions[0]
            )
            columns = ["method", "images", "eager_s", "compile_first_call_s", "compiled_s"]
            print(bench.format_table(document["compile"], [*columns, "compiled_speedup"]))
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mc_inference.py",
        description="Benchmark MC inference: engine vs naive loop, GFLOP/s, placements, end to "
        "end. Measure images x samples per second of the MC engine and of the naive loop (S "
        "full passes) for each method and S, the achieved GFLOP/s against a large matmul in the "
        "same run, peak memory, the cost and Valid quality of each stochastic-layer placement, "
        "and end-to-end timings. Prints tables and writes JSON.",
    )
    parser.add_argument("--models", default=str(DEFAULT_BUNDLE_DIR), help="bundle folder")
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 10, 30, 100])
    parser.add_argument("--batch", type=int, default=64, help="images per pass")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument(
        "--quality-faces",
        type=int,
        default=3555,
        help="Valid faces for the placement quality figures",
    )
    parser.add_argument(
        "--whole-split", action="store_true", help="also time all methods on the whole Valid split"
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=["fp32", "bf16"],
        help="precisions to time, each against the same run's matmul peak in that precision "
        "(default: fp32, and bf16 where the device computes it in hardware)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile against eager for the MC methods (compiling takes ~1 min)",
    )
    parser.add_argument(
        "--peak-size",
        type=int,
        help="side of the square matmul that measures the peak (default: 2048 on a CPU, 8192 "
        "on a GPU; smaller only to check the records quickly, e.g. where bf16 is emulated)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    parser.add_argument("--out", default="benchmarks/results/mc_inference.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # this process is ours: see bnnfer.allocator
    try:
        return run(args)
    except (FerPlusError, CheckpointError, ValueError, FileNotFoundError) as error:
        print(f"mc_inference.py: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
