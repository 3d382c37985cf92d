"""What `bnnfer.keep_freed_memory` buys: the same forward passes in a process with and one without.

    python benchmarks/allocator.py [--models bnnfer/assets/models] [--seconds 2]

Each configuration runs in a fresh Python process (the allocator setting is process-wide and
cannot be undone), times deterministic passes of the bundled dropout network at batches 64 and
256 in float32 and bf16, prints faces per second and the ratio, and writes
benchmarks/results/allocator.json. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the child prints faces/s keyed "precision/batch"; the parent tabulates whatever keys it gets
_CHILD = """
import json, sys, time
import torch
import bnnfer
from bnnfer.models import engine
from bnnfer.training.bundle import load_bundle

models, seconds, keep = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
if keep:
    bnnfer.keep_freed_memory()
network = load_bundle(models, rows=["classical"])["classical"].network
out = {}
for precision in ("fp32", "bf16"):
    for batch in (64, 256):
        x = torch.rand(batch, 1, 48, 48)
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16,
                                                     enabled=precision == "bf16"):
            engine.deterministic(network, x)
            calls, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                engine.deterministic(network, x)
                calls += 1
            out[f"{precision}/{batch}"] = batch * calls / (time.perf_counter() - started)
print(json.dumps(out))
"""


def _measure(models: str, seconds: float, keep: bool) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, models, str(seconds), "1" if keep else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(ROOT / "bnnfer/assets/models"))
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per configuration")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/allocator.json"))
    args = parser.parse_args()
    default = _measure(args.models, args.seconds, keep=False)
    kept = _measure(args.models, args.seconds, keep=True)
    records = []
    print("| precision | batch | glibc default (faces/s) | freed memory kept | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for key in default:
        precision, batch = key.split("/")
        record = {
            "precision": precision,
            "batch": int(batch),
            "default_per_s": default[key],
            "kept_per_s": kept[key],
            "ratio": kept[key] / default[key],
        }
        records.append(record)
        print(
            f"| {precision} | {batch} | {default[key]:.0f} | {kept[key]:.0f} | "
            f"{record['ratio']:.2f}x |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"records": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
