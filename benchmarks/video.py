"""A 30-second video end to end: decoding, face detection and tracking, every row of the
comparison, with the dashboard's default placement for this machine.

    python benchmarks/video.py [--models bnnfer/assets/models] [--threads 2 1]

The clip is made here with PyAV (640x360, 15 frames/s, H.264): scikit-image's astronaut (public
domain) drifting across the frame and growing and shrinking. It is sampled at 5 frames per
second (150 frames) and every bundled row runs at S = 30 on each face, as the "Your video" page
does, with the placement the sidebar starts with (`bnnfer_dashboard.sidebar.default_placement`:
every block where the CPU computes bf16 natively, else the head only). Seconds are split into
loading the models, decoding, finding faces (MTCNN and tracking) and the models. Each
``--threads`` value is one run in this process. The machine's load average is recorded: the
benchmark shares the CPU with whatever else runs. Writes benchmarks/results/video.json.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import time
from pathlib import Path

import av
import numpy as np
import torch
from bench import machine, write_json
from PIL import Image
from skimage import data as skimage_data

from bnnfer.inference.mc import native_bf16, select_device
from bnnfer.media.video import predict_video
from bnnfer.training import bundle

ROOT = Path(__file__).resolve().parents[1]
SECONDS, SIZE, ENCODED_FPS, SAMPLED_FPS, SAMPLES = 30, (640, 360), 15, 5.0, 30
TARGET_S = 60.0


def make_clip() -> bytes:
    """The astronaut's head drifting on a plain background for `SECONDS` seconds."""
    head = Image.fromarray(skimage_data.astronaut()).crop((130, 10, 320, 225))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=ENCODED_FPS, options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for i in range(SECONDS * ENCODED_FPS):
            t = i / ENCODED_FPS
            scale = 0.8 + 0.25 * math.sin(2 * math.pi * t / 10)
            sprite = head.resize((round(head.width * scale), round(head.height * scale)))
            x = (SIZE[0] - sprite.width) / 2 * (1 + 0.8 * math.sin(2 * math.pi * t / 15))
            y = (SIZE[1] - sprite.height) / 2 * (1 + 0.5 * math.sin(2 * math.pi * t / 7))
            canvas = Image.new("RGB", SIZE, (96, 110, 120))
            canvas.paste(sprite, (round(x), round(y)))
            frame = av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def run(models: str, clip: bytes, placement: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    began = time.perf_counter()
    methods = bundle.load_bundle(models, placement=placement)
    loaded = time.perf_counter() - began
    result = predict_video(methods, clip, fps=SAMPLED_FPS, samples=SAMPLES)
    total = time.perf_counter() - began
    return {
        "threads": threads,
        "rows": len(methods),
        "sampled_frames": result.sampled,
        "tracks": len(result.tracks),
        "faces": len(result.faces),
        "seconds": {
            "load_models": round(loaded, 2),
            **{k: round(v, 2) for k, v in result.seconds.items()},
            "total": round(total, 2),
        },
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(bundle.DEFAULT_BUNDLE_DIR))
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "video.json"))
    args = parser.parse_args()
    bf16 = native_bf16(select_device("cpu"))
    placement = "all" if bf16 else "head"
    clip = make_clip()
    described = {**machine(), "cpus": os.cpu_count()}  # torch's default threads, before runs
    runs = []
    for threads in args.threads:
        runs.append(run(args.models, clip, placement, threads))
        print(runs[-1])
    write_json(
        args.out,
        {
            "machine": described,
            "bf16_in_hardware": bf16,
            "clip": {
                "seconds": SECONDS,
                "size": list(SIZE),
                "encoded_fps": ENCODED_FPS,
                "mib": round(len(clip) / 2**20, 2),
            },
            "sampled_fps": SAMPLED_FPS,
            "samples": SAMPLES,
            "placement": placement,
            "target_s": TARGET_S,
            "runs": runs,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
