"""Horizontal-flip test-time augmentation, one of the levers toward sharper networks, on Valid.

Faces are left-right symmetric enough that every bundled network was trained with flips, so a
flipped face is a second view of the same expression. Per row:

* a deterministic row (classical, ensemble) averages its samples on the face and on its mirror
  image, twice the passes;
* an MC row draws half its S samples on the face and half on the mirror image, so the flip is
  part of each sample's draw and costs nothing extra.

Accuracy (plurality and Barsoum protocols) and mean JSD to the votes, with and without the
flip, are written to ``benchmarks/results/flip_tta.json``:

    python benchmarks/flip_tta.py --data ../shared/data/ferplus --rows classical ensemble
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bench
import numpy as np

from bnnfer import load_ferplus
from bnnfer.data.votes import barsoum_majority
from bnnfer.evaluation.metrics import accuracy, js_divergence
from bnnfer.inference.mc import mc_predict
from bnnfer.training import bundle

ROOT = Path(__file__).resolve().parents[1]


def scores(samples: np.ndarray, split, majority: np.ndarray) -> dict[str, float]:
    """Accuracy under both protocols and mean JSD to the votes of samples ``(S, N, C)``."""
    mean = samples.mean(axis=0)
    return {
        "accuracy": accuracy(mean, split.labels),
        "accuracy_majority": accuracy(mean[majority], split.labels[majority]),
        "jsd": float(js_divergence(mean, split.distribution).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER+ folder")
    parser.add_argument("--models", default=str(bundle.DEFAULT_BUNDLE_DIR))
    parser.add_argument("--rows", nargs="+", default=["classical", "ensemble"])
    parser.add_argument("--samples", type=int, default=30, help="S of the MC rows")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/flip_tta.json"))
    args = parser.parse_args(argv)

    split = load_ferplus(args.data, splits=["valid"])["valid"]
    mirrored = np.ascontiguousarray(split.images[:, :, ::-1])  # (N, 48, 48), left-right
    majority, _ = barsoum_majority(split.votes)
    methods = bundle.load_bundle(args.models, "cpu", rows=args.rows)
    rows = {}
    for key, method in methods.items():
        started = time.perf_counter()
        if method.sampled:
            half = args.samples // 2
            plain = mc_predict(method, split.images, args.samples, seed=0, precision="fp32")
            flipped = mc_predict(method, mirrored, args.samples - half, seed=1, precision="fp32")
            with_flip = np.concatenate([plain.numpy()[:half], flipped.numpy()])
        else:
            plain = mc_predict(method, split.images, seed=0, precision="fp32")
            flipped = mc_predict(method, mirrored, seed=0, precision="fp32")
            with_flip = np.concatenate([plain.numpy(), flipped.numpy()])
        rows[key] = {
            "plain": scores(plain.numpy(), split, majority),
            "flip": scores(with_flip, split, majority),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(key, json.dumps(rows[key]), flush=True)
    document = {
        "split": "valid",
        "faces": len(split),
        "faces_majority": int(majority.sum()),
        "samples": args.samples,
        **bench.machine(),
        "rows": rows,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
