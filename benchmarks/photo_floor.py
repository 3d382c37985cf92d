"""The CPU floor under simultaneous photo uploads: how fast N of them can finish on P cores.

`benchmarks/load.py` measures the dashboard: N tabs upload a six-face photo at once and the worst
latency is compared with one upload's. This script measures, in one process and without the
server, the work one upload stands for, so that the load benchmark's ratio can be set against
the least it could be:

* **one photo** through `bnnfer.predict_photo` (face detection, then every bundled row at S = 30
  in one batch of its faces, the MC rows sampled where the dashboard samples them on this
  device: `bnnfer.inference.mc.fast_placement`), with torch on 1 thread and on all threads:
  wall and CPU seconds;
* **N photos one after another** against **N photos batched**: detection per photo, then each
  row once over all N photos' faces (the batching a serving queue could do), on all threads and
  (batched) on one.

The floor: the N uploads need at least the least CPU seconds measured for them: ``N x W1``, ``W1``
being one photo's CPU on one thread, or a batched run's (on one thread or all); on ``P`` cores
the last of them cannot finish before ``that / P``. Divided by one upload's wall time on all
threads, that is the least worst-latency ratio any queue can reach. Results go to
``benchmarks/results/photo_floor.json``:

    python benchmarks/photo_floor.py [--photos 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from first_run import cpu_model
from load import FACES_PER_PHOTO, photos

ROOT = Path(__file__).resolve().parents[1]


def timed(work, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds (this process, all threads) of ``work()`` after a warm-up."""
    work()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="bundle folder (default: the bundled models)")
    parser.add_argument("--photos", type=int, default=4, help="simultaneous uploads (N)")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto", help="auto (the dashboard's), fp32, bf16")
    parser.add_argument(
        "--placement", help="where the MC rows sample (default: the dashboard's on this device)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "photo_floor.json"))
    args = parser.parse_args(argv)

    from bnnfer.inference.mc import fast_placement, native_bf16
    from bnnfer.media.faces import decode_photo, detect_faces
    from bnnfer.media.predict import predict_faces, predict_photo
    from bnnfer.training.bundle import DEFAULT_BUNDLE_DIR, load_bundle

    placement = args.placement or fast_placement(torch.device("cpu"))
    methods = load_bundle(args.models or DEFAULT_BUNDLE_DIR, placement=placement)
    uploads = photos(args.photos)[: args.photos]
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    options = {"samples": args.samples, "precision": args.precision}

    def one() -> None:
        found = predict_photo(methods, uploads[0], **options)
        assert len(found.faces) == FACES_PER_PHOTO, "the test photo shows six faces"

    def one_after_another() -> None:
        for data in uploads:
            predict_photo(methods, data, **options)

    def batched() -> None:
        crops = [
            face.crop for data in uploads for face in detect_faces(decode_photo(data)).faces
        ]  # (N * F, 48, 48) uint8
        predict_faces(methods, np.stack(crops), **options)

    torch.set_num_threads(1)
    single_thread = timed(one, args.repeats)
    together_one_thread = timed(batched, args.repeats)
    torch.set_num_threads(threads)
    single = timed(one, args.repeats)
    sequential = timed(one_after_another, args.repeats)
    together = timed(batched, args.repeats)

    least_cpu = min(
        args.photos * single_thread["cpu_s"], together["cpu_s"], together_one_thread["cpu_s"]
    )
    floor_s = least_cpu / cores
    record = {
        "cpu": cpu_model(),
        "bf16_in_hardware": native_bf16(torch.device("cpu")),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "cores": cores,
        "torch_threads": threads,
        "rows": list(methods),
        "faces_per_photo": FACES_PER_PHOTO,
        "photos": args.photos,
        "samples": args.samples,
        "precision": args.precision,
        "placement": placement,
        "one_photo_1_thread": single_thread,
        "one_photo": single,
        "photos_one_after_another": sequential,
        "photos_batched": together,
        "photos_batched_1_thread": together_one_thread,
        "batching_cpu_saving": round(1 - together["cpu_s"] / sequential["cpu_s"], 3),
        "floor_worst_s": round(floor_s, 3),
        "floor_worst_ratio": round(floor_s / single["wall_s"], 3),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
