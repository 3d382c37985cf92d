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
  networks are to a crop slightly off;
* ``bounds``: why the IoU stays below 0.8. The same Valid faces placed twice split the spread of
  FER's side against MTCNN's box into MTCNN's own noise and a part fixed per face; a ridge fit
  of the side and centre on MTCNN's box and five landmarks, and OpenCV's Haar cascade (FER2013
  was cut around OpenCV's face detector; measured where ``opencv-python-headless<5`` is
  installed), show how far better predictors get; `iou_cap` turns a side error into the mean
  IoU it allows.

Writes ``benchmarks/results/framing.json``:

    python benchmarks/framing.py --data ../shared/data/ferplus --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
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


def detect(photo: Image.Image) -> tuple[np.ndarray, np.ndarray] | None:
    """MTCNN's largest face in the photo: its box ``(4,)`` as ``(x0, y0, x1, y1)`` and its five
    landmarks ``(5, 2)`` (eyes, nose, mouth corners), or None."""
    from bnnfer.media.faces import MIN_FACE_PROBABILITY, load_detector

    boxes, probabilities, landmarks = load_detector().detect(photo, landmarks=True)
    if boxes is None:
        return None
    kept = [i for i, p in enumerate(probabilities) if p >= MIN_FACE_PROBABILITY]
    if not kept:
        return None
    largest = max(kept, key=lambda i: (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]))
    return np.asarray(boxes[largest], float), np.asarray(landmarks[largest], float)


def iou(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Intersection over union of two squares ``(x, y, side)``."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1]))
    inter = width * height
    return inter / (a[2] ** 2 + b[2] ** 2 - inter)


def simulated(images: np.ndarray, seed: int) -> list[tuple[Image.Image, tuple, tuple | None]]:
    """``[(photo, true square, (MTCNN box, landmarks) or None)]`` for each face."""
    rng = np.random.default_rng(seed)
    out = []
    for face in images:
        photo, square = simulate_photo(face, rng)
        out.append((photo, square, detect(photo)))
    return out


def iou_cap(side_sd: float) -> float:
    """The mean IoU of squares on the true centre whose side is off by a log-normal factor:
    with ``ln r ~ N(0, sd^2)`` the IoU is ``min(r, 1/r)^2 = exp(-2 |ln r|)``, whose mean is
    ``2 exp(2 sd^2) Phi(-2 sd) = exp(2 sd^2) erfc(sqrt(2) sd)``. Any error in the centre lowers
    it further, so a rule whose side errs by ``side_sd`` cannot average more."""
    return math.exp(2 * side_sd**2) * math.erfc(math.sqrt(2) * side_sd)


def fit(samples: list) -> dict[str, float]:
    """The crop rule's constants: side / box height and the centre offsets, as medians."""
    found = [(sq, d[0]) for _, sq, d in samples if d is not None]
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
    from bnnfer.media.faces import crop_square

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
    from bnnfer.media.faces import crop_square, framing_square

    kept, ious, crops, exact_side, earlier = [], [], [], [], []
    for i, (photo, square, detection) in enumerate(samples):
        if detection is None:
            continue
        box = detection[0]
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


def frame_against_box(square: tuple, box: np.ndarray) -> np.ndarray:
    """``(3,)``: FER's square ``(x, y, side)`` against MTCNN's ``box``: log(side / box height)
    and the square centre's offset from the box centre, x and y, in box heights."""
    height = box[3] - box[1]
    return np.array(
        [
            math.log(square[2] / height),
            (square[0] + square[2] / 2 - (box[0] + box[2]) / 2) / height,
            (square[1] + square[2] / 2 - (box[1] + box[3]) / 2) / height,
        ]
    )


def square_from_frame(frame: np.ndarray, box: np.ndarray) -> tuple[float, float, float]:
    """The square ``(x, y, side)`` that `frame_against_box` describes."""
    height = box[3] - box[1]
    side = math.exp(frame[0]) * height
    cx, cy = (box[0] + box[2]) / 2 + frame[1] * height, (box[1] + box[3]) / 2 + frame[2] * height
    return cx - side / 2, cy - side / 2, side


def landmark_features(box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``(13,)``: the shape of a face as MTCNN sees it, free of its size and place: the box's
    log aspect ratio, the five landmarks from the box centre in box heights, and the log eye
    distance and log eye-to-mouth distance in box heights."""
    height = box[3] - box[1]
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    eyes, mouth = landmarks[:2].mean(0), landmarks[3:].mean(0)
    return np.concatenate(
        [
            [math.log((box[2] - box[0]) / height)],
            ((landmarks - centre) / height).ravel(),
            [math.log(np.linalg.norm(landmarks[1] - landmarks[0]) / height)],
            [math.log(np.linalg.norm(mouth - eyes) / height)],
        ]
    )


def landmark_rule(train: list, valid: list, ridge: float = 10.0) -> dict:
    """A ridge regression of FER's square (`frame_against_box`) on `landmark_features`,
    fitted on Train samples, checked on Valid: how much of the side a richer rule built on
    MTCNN's box and landmarks recovers."""

    def arrays(samples: list) -> tuple[np.ndarray, np.ndarray, list]:
        found = [(sq, d) for _, sq, d in samples if d is not None]
        x = np.stack([landmark_features(*d) for _, d in found])
        y = np.stack([frame_against_box(sq, d[0]) for sq, d in found])
        return x, y, found

    x_train, y_train, _ = arrays(train)
    x_valid, y_valid, found = arrays(valid)
    mean, sd = x_train.mean(0), x_train.std(0)
    design = np.column_stack([np.ones(len(x_train)), (x_train - mean) / sd])
    penalty = ridge * np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(design.T @ design + penalty, design.T @ y_train)
    predicted = np.column_stack([np.ones(len(x_valid)), (x_valid - mean) / sd]) @ weights
    ious = [
        iou(sq, square_from_frame(frame, d[0]))
        for (sq, d), frame in zip(found, predicted, strict=True)
    ]
    residual = float(np.std(predicted[:, 0] - y_valid[:, 0]))
    return {
        "ridge": ridge,
        "mean_iou": float(np.mean(ious)),
        "side_sd_before": float(np.std(y_valid[:, 0] - np.median(y_train[:, 0]))),
        "side_sd_residual": residual,
        "iou_cap_of_residual": iou_cap(residual),
    }


def repeat_spread(images: np.ndarray, seed: int) -> dict:
    """The same faces placed twice (two simulated photos each): the spread of log(FER's side /
    MTCNN's box height) split into MTCNN's own noise (within a face: half the mean squared
    difference between the two placements) and the part fixed per face, which a rule must
    predict from the face itself."""
    first, second = simulated(images, seed), simulated(images, seed + 1)
    pairs = [
        (frame_against_box(a[1], a[2][0])[0], frame_against_box(b[1], b[2][0])[0])
        for a, b in zip(first, second, strict=True)
        if a[2] is not None and b[2] is not None
    ]
    u, v = np.array(pairs).T
    total = float(np.concatenate([u, v]).var())
    within = float(np.mean((u - v) ** 2) / 2)
    return {
        "faces": len(images),
        "detected_twice": len(pairs),
        "side_sd_total": math.sqrt(total),
        "side_sd_mtcnn": math.sqrt(within),
        "side_sd_per_face": math.sqrt(max(total - within, 0.0)),
        "per_face_share_of_variance": 1 - within / total,
        "iou_cap_of_total": iou_cap(math.sqrt(total)),
    }


def haar_rule(
    train: list, valid: list, labels: np.ndarray, methods: dict, min_iou: float = 0.4
) -> dict:
    """OpenCV's Haar cascade (frontalface_alt) on the same simulated photos: FER2013 was cut
    around OpenCV's face detector. Its box nearest MTCNN's square (IoU at least ``min_iou``)
    gives the square, side and vertical offset fitted on Train as medians; MTCNN's rule
    stands where the cascade finds no such face. Returns the IoU and the networks' accuracy on
    its crops (``labels``: the Valid faces'). Skipped without opencv-python-headless<5 (5.x no
    longer ships the cascades)."""
    try:
        import cv2
    except ImportError:
        return {"skipped": "opencv-python-headless<5 is not installed"}
    from bnnfer.media.faces import crop_square, framing_square

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt.xml")

    def cascade_box(photo: Image.Image, box: np.ndarray) -> np.ndarray | None:
        x0, y0, x1, _ = framing_square(tuple(box))
        mtcnn = (x0, y0, x1 - x0)
        found = cascade.detectMultiScale(
            np.asarray(photo.convert("L")), scaleFactor=1.05, minNeighbors=3, minSize=(40, 40)
        )
        scored = [(iou(mtcnn, (x, y, w)), np.array([x, y, x + w, y + h])) for x, y, w, h in found]
        best = max(scored, key=lambda s: s[0], default=(0.0, None))
        return best[1] if best[0] >= min_iou else None

    frames = []
    for photo, square, detection in train:
        if detection is not None and (box := cascade_box(photo, detection[0])) is not None:
            side = square[2] / (box[2] - box[0])
            dy = (square[1] + square[2] / 2 - (box[1] + box[3]) / 2) / square[2]
            frames.append((side, dy))
    side, dy = np.median(np.array(frames), 0)
    ious, matched, crops, kept = [], [], [], []
    for i, (photo, square, detection) in enumerate(valid):
        if detection is None:
            continue
        box = cascade_box(photo, detection[0])
        if box is None:
            x0, y0, x1, _ = framing_square(tuple(detection[0]))
            cut = (x0, y0, x1 - x0)
        else:
            width = side * (box[2] - box[0])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + dy * width
            cut = (cx - width / 2, cy - width / 2, width)
        ious.append(iou(square, cut))
        if box is not None:
            matched.append(ious[-1])
        x, y, width = cut
        crops.append(crop_square(photo.convert("L"), (x, y, x + width, y + width)))
        kept.append(i)
    return {
        "cascade": "haarcascade_frontalface_alt.xml",
        "side_per_box_width": float(side),
        "centre_dy_per_side": float(dy),
        "fitted_on": len(frames),
        "mean_iou": float(np.mean(ious)),
        "matched": len(matched),
        "detected": len(ious),
        "mean_iou_where_matched": float(np.mean(matched)),
        "accuracy": accuracy(methods, np.stack(crops), labels[kept]),
    }


def side_sd_for(target: float) -> float:
    """The largest side error (sd of its log) whose `iou_cap` still reaches ``target``."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if iou_cap(middle) >= target else (low, middle)
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fit", type=int, default=800, help="Train faces to fit on")
    parser.add_argument("--check", type=int, default=800, help="Valid faces to check on")
    parser.add_argument("--repeat", type=int, default=300, help="Valid faces placed twice")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "framing.json"))
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    import bnnfer
    from bnnfer.media import faces
    from bnnfer.training import bundle

    splits = bnnfer.load_ferplus(args.data, splits=["train", "valid"])
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    train = splits["train"].subset(rng.choice(len(splits["train"]), args.fit, replace=False))
    train_samples = simulated(train.images, seed=1)
    fitted = fit(train_samples)
    valid = splits["valid"]
    chosen = valid.subset(rng.choice(len(valid), args.check, replace=False))
    valid_samples = simulated(chosen.images, seed=2)
    repeated = valid.subset(rng.choice(len(valid), args.repeat, replace=False))
    methods = bundle.load_bundle(rows=sorted({*ROWS, *SCALE_ROWS}))
    record = {
        "fit_on_train": fitted,
        "rule_in_use": {
            "side_per_box_height": faces.FRAME_SIDE_PER_BOX_HEIGHT,
            "centre_dy_per_side": faces.FRAME_CENTRE_DY,
        },
        "check_on_valid": check(valid_samples, chosen.images, chosen.labels, methods),
        "bounds": {
            "side_sd_allowing_0.8": side_sd_for(0.8),
            "repeat": repeat_spread(repeated.images, seed=3),
            "landmark_rule": landmark_rule(train_samples, valid_samples),
            "haar_rule": haar_rule(train_samples, valid_samples, chosen.labels, methods),
        },
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
