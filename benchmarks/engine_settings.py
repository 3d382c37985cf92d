"""The engine's per-device defaults, measured: `python benchmarks/engine_settings.py [options]`.

For the bundle's MC-Dropout and MC-DropConnect networks at S = 30, times each pass size
(``--rows``; `bnnfer.models.engine.MAX_ROWS`) and DropConnect's two layouts
(`bnnfer.models.engine.dropconnect_layout`) for each batch of images, prints a table (the default
setting starred, each setting's share of the fastest), and writes JSON (default
benchmarks/results/engine_settings-<device type>.json).
"""

from __future__ import annotations

import argparse
import sys

import bench

from bnnfer.allocator import keep_freed_memory
from bnnfer.inference.mc import native_bf16, select_device
from bnnfer.training.bundle import DEFAULT_BUNDLE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(DEFAULT_BUNDLE_DIR), help="bundle folder")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="images")
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[16, 64, 256, 1024], help="pass sizes to time"
    )
    parser.add_argument("--samples", type=int, default=30, help="MC samples S")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        nargs="+",
        help="default: fp32, and bf16 where the device computes it in hardware",
    )
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--out", help="JSON path")
    args = parser.parse_args(argv)
    if min(args.batches + args.rows) < 1 or args.samples < 1 or args.seconds <= 0:
        parser.error("--batches, --rows and --samples must be >= 1, --seconds > 0")

    keep_freed_memory()
    device = select_device(args.device)
    networks, trained = bench.bench_networks(args.models, device)
    if not trained:
        print(f"no trained bundle in {args.models}: timing untrained networks", file=sys.stderr)
    precisions = args.precision or ["fp32", *(["bf16"] if native_bf16(device) else [])]
    records = []
    for precision in precisions:
        records += bench.engine_settings(
            networks, args.batches, args.rows, args.samples, device, args.seconds, precision
        )
    for record in records:
        record["setting"] = f"{record['layout']} {record['max_rows'] or ''}".strip()
        record["setting"] += " *" if record["default"] else ""
    columns = ["method", "precision", "batch", "setting", "per_s", "share_of_fastest"]
    print(bench.format_table(records, columns))
    out = args.out or f"benchmarks/results/engine_settings-{device.type}.json"
    bench.write_json(out, {"machine": bench.machine(), "device": str(device), "records": records})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
