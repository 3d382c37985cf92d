"""How the photo path frames a face, measured against FER's own framing.

FER+ faces are 48x48 crops whose framing is the one every bundled network learned. Simulated
photos are made from them (`simulate_photo`: the face upscaled, set into a larger canvas at a
random place and size, its border continued outwards and blurred), run through MTCNN, and the
photo path's crop rule is compared with the known square the face came from:

* ``fit``: on Train faces, the crop side as a multiple of MTCNN's box height and the crop
  centre's offset from the box centre (as shares of the side), medians over the faces;
* ``check``: on Valid faces, the IoU between the re-cut square and the original one, and the
  bundled networks' accuracy on the re-cut crops against the faces fed directly;
* ``scales``: Valid accuracy with FER's framing zoomed in or out (0.8 to 1.2), how robust the
  networks are to a crop slightly off.

Writes ``benchmarks/results/framing.json``:

    python benchmarks/framing.py --data ../shared/data/ferplus --fit 600 --check 600
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
CANVAS = 320  # side of a simulated photo, in pixels
FACE_SIDES = (96, 220)  # the face square's side in the photo, drawn uniformly
SCALES = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)
ROWS = ("classical", "ensemble")  # for the photo path against direct input
SCALE_ROWS = ("classical", "classical_soft")  # for the framing scales (one pass each)


def simulate_photo(
    face: np.ndarray, rng: np.random.Generator
) -> tuple[Image.Image, tuple[float, float, float]]:
    """A photo made from a 48x48 FER face: ``(RGB image, (x, y, side))`` of the square the
    face occupies. The face is upscaled (bicubic) to a random side in `FACE_SIDES` and placed
    at a random spot of a `CANVAS` square; around it, its border pixels continue outwards
    (edge padding), blurred, so the surroundings hold neither a second face (as reflection or
    an enlarged copy would) nor a sharp edge at the square's border."""
    side = int(rng.integers(*FACE_SIDES))
    x, y = (int(v) for v in rng.integers(0, CANVAS - side, 2))
    sharp = np.asarray(Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC))
    padded = np.pad(sharp, ((y, CANVAS - side - y), (x, CANVAS - side - x)), mode="edge")
    canvas = Image.fromarray(padded).filter(ImageFilter.GaussianBlur(CANVAS / 40))
    canvas.paste(Image.fromarray(sharp), (x, y))
    return canvas.convert("RGB"), (float(x), float(y), float(side))


def detect(photo: Image.Image) -> np.ndarray | None:
    """MTCNN's largest box ``(x0, y0, x1, y1)`` in the photo, or None."""
    from bnnfer.faces import MIN_FACE_PROBABILITY, load_detector

    boxes, probabilities = load_detector().detect(photo)
    if boxes is None:
        return None
    kept = [b for b, p in zip(boxes, probabilities, strict=True) if p >= MIN_FACE_PROBABILITY]
    return max(kept, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if kept else None


def iou(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Intersection over union of two squares ``(x, y, side)``."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1]))
    inter = width * height
    return inter / (a[2] ** 2 + b[2] ** 2 - inter)


def simulated(images: np.ndarray, seed: int) -> list[tuple[Image.Image, tuple, np.ndarray | None]]:
    """``[(photo, true square, MTCNN box or None)]`` for each face."""
    rng = np.random.default_rng(seed)
    out = []
    for face in images:
        photo, square = simulate_photo(face, rng)
        out.append((photo, square, detect(photo)))
    return out


def fit(samples: list) -> dict[str, float]:
    """The crop rule's constants: side / box height and the centre offsets, as medians."""
    found = [(sq, np.asarray(b)) for _, sq, b in samples if b is not None]
    ratio = np.array([sq[2] / (b[3] - b[1]) for sq, b in found])
    dx = np.array([(sq[0] + sq[2] / 2 - (b[0] + b[2]) / 2) / sq[2] for sq, b in found])
    dy = np.array([(sq[1] + sq[2] / 2 - (b[1] + b[3]) / 2) / sq[2] for sq, b in found])
    return {
        "side_per_box_height": float(np.median(ratio)),
        "side_per_box_height_p10_p90": [float(v) for v in np.percentile(ratio, [10, 90])],
        "centre_dx_per_side": float(np.median(dx)),
        "centre_dy_per_side": float(np.median(dy)),
        "detected": len(found),
        "faces": len(samples),
    }


def rescaled(images: np.ndarray, scale: float) -> np.ndarray:
    """FER faces with their framing zoomed: ``scale`` < 1 crops tighter (the face larger),
    > 1 wider (edge pixels fill beyond the original square)."""
    from bnnfer.faces import crop_square

    out = []
    for face in images:
        side = 48 * scale
        box = (24 - side / 2, 24 - side / 2, 24 + side / 2, 24 + side / 2)
        out.append(crop_square(Image.fromarray(face), box))
    return np.stack(out)


def accuracy(
    methods: dict, images: np.ndarray, labels: np.ndarray, rows: tuple[str, ...] = ROWS
) -> dict[str, float]:
    from bnnfer import mc_predict

    return {
        key: float((mc_predict(methods[key], images).numpy().mean(0).argmax(1) == labels).mean())
        for key in rows
    }


def check(samples: list, faces: np.ndarray, labels: np.ndarray, methods: dict) -> dict:
    """IoU of the photo path's squares with the true ones, and accuracy on its crops."""
    from bnnfer.faces import crop_square, framing_square

    kept, ious, crops, exact_side, earlier = [], [], [], [], []
    for i, (photo, square, box) in enumerate(samples):
        if box is None:
            continue
        x0, y0, x1, y1 = framing_square(tuple(float(v) for v in box))
        ious.append(iou(square, (x0, y0, x1 - x0)))
        # bounds: each square's own side on the box centre; the rule before this fit
        cx, cy, height = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[3] - box[1]
        exact_side.append(iou(square, (cx - square[2] / 2, cy - square[2] / 2, square[2])))
        side = 1.3 * max(box[2] - box[0], height)
        earlier.append(iou(square, (cx - side / 2, cy - side / 2, side)))
        crops.append(crop_square(photo.convert("L"), (x0, y0, x1, y1)))
        kept.append(i)
    kept_labels = labels[kept]
    return {
        "faces": len(samples),
        "detected": len(kept),
        "mean_iou": float(np.mean(ious)),
        "iou_p10": float(np.percentile(ious, 10)),
        "mean_iou_exact_side_on_box_centre": float(np.mean(exact_side)),
        "mean_iou_earlier_rule": float(np.mean(earlier)),
        "accuracy_photo_path": accuracy(methods, np.stack(crops), kept_labels),
        "accuracy_direct": accuracy(methods, faces[kept], kept_labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fit", type=int, default=600, help="Train faces to fit on")
    parser.add_argument("--check", type=int, default=600, help="Valid faces to check on")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "framing.json"))
    args = parser.parse_args()

    import bnnfer
    from bnnfer import bundle, faces

    splits = bnnfer.load_ferplus(args.data, splits=["train", "valid"])
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    train = splits["train"].subset(rng.choice(len(splits["train"]), args.fit, replace=False))
    fitted = fit(simulated(train.images, seed=1))
    valid = splits["valid"]
    chosen = valid.subset(rng.choice(len(valid), args.check, replace=False))
    methods = bundle.load_bundle(rows=sorted({*ROWS, *SCALE_ROWS}))
    record = {
        "fit_on_train": fitted,
        "rule_in_use": {
            "side_per_box_height": faces.FRAME_SIDE_PER_BOX_HEIGHT,
            "centre_dy_per_side": faces.FRAME_CENTRE_DY,
        },
        "check_on_valid": check(
            simulated(chosen.images, seed=2), chosen.images, chosen.labels, methods
        ),
        "valid_accuracy_by_scale": {
            f"{s:.2f}": accuracy(methods, rescaled(valid.images, s), valid.labels, SCALE_ROWS)
            for s in SCALES
        },
        "seconds": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
