"""The photo path frames a face as FER did: on photos simulated from real FER+ Valid faces (set
into a larger canvas at a random place and size, `benchmarks/framing.py`), MTCNN plus the
framing rule re-cut squares that overlap the originals, and the bundled ensemble is as
accurate on the re-cut crops as on the faces fed directly (within 2 points) and reads most of
them as it reads the originals.

On a few hundred faces the paired accuracy difference moves by about 2 points from sample to
sample: the classical network's was +1.8 points on the benchmark's 500 faces and -1.9 and -2.2
on two samples of 300, the ensemble's 0.0, 0.0 and -1.1. The ensemble, the steadier reading,
is the one held to 2 points here; the agreement floor catches a framing change directly.

Needs ../shared/data/ferplus (or $BNNFER_REAL_DATA); about a minute on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest
from framing import iou, simulate_photo

from bnnfer import load_ferplus, mc_predict
from bnnfer.media.faces import crop_square, detect_faces, framing_square
from bnnfer.training import bundle

pytestmark = [pytest.mark.ferplus]

FACES = 300
MAX_DROP = 0.02  # accuracy points the photo path may lose against direct 48x48 input
# MTCNN's box varies with each face (FER's own framing does too): on these photos each square's
# exact side on the box centre reaches a mean IoU of about 0.84, the fitted rule about 0.74, the
# earlier rule (box side x 1.3) about 0.55 (benchmarks/results/framing.json)
MIN_MEAN_IOU = 0.65
MIN_FOUND = 0.85  # MTCNN misses some upscaled 48 px faces
MIN_AGREEMENT = 0.88  # the ensemble's top emotion on the crop and on the original (0.93-0.94)


def test_simulated_photos_are_recut_as_fer_framed_them(real_ferplus):
    valid = load_ferplus(real_ferplus, splits=["valid"])["valid"]
    rng = np.random.default_rng(2026)
    faces = valid.subset(rng.choice(len(valid), FACES, replace=False))
    crops, ious, found = [], [], []
    for i, face in enumerate(faces.images):
        photo, (x, y, side) = simulate_photo(face, rng)
        detection = detect_faces(photo, max_faces=1)
        if not detection.faces:
            continue
        x0, y0, x1, _ = framing_square(detection.faces[0].box)
        ious.append(iou((x, y, side), (x0, y0, x1 - x0)))
        crops.append(detection.faces[0].crop)
        found.append(i)
        # the crop the photo path keeps is the framing square cut from the photo
        expected = crop_square(photo.convert("L"), framing_square(detection.faces[0].box))
        np.testing.assert_array_equal(detection.faces[0].crop, expected)
    assert len(found) >= MIN_FOUND * FACES, f"MTCNN found {len(found)} of {FACES} faces"
    assert np.mean(ious) >= MIN_MEAN_IOU, f"mean IoU {np.mean(ious):.3f}"
    ensemble = bundle.load_bundle(rows=["ensemble"])["ensemble"]
    labels = faces.labels[found]
    direct = mc_predict(ensemble, faces.images[found]).numpy().mean(0).argmax(1)
    photo = mc_predict(ensemble, np.stack(crops)).numpy().mean(0).argmax(1)
    direct_accuracy, photo_accuracy = (direct == labels).mean(), (photo == labels).mean()
    assert photo_accuracy >= direct_accuracy - MAX_DROP, (photo_accuracy, direct_accuracy)
    assert (photo == direct).mean() >= MIN_AGREEMENT, (photo == direct).mean()
