"""bnnfer.media.predict: faces to every method's distribution, and the reading in plain words."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers.nets import tiny_network
from PIL import Image
from skimage import data as skimage_data

from bnnfer import build_method
from bnnfer.media.predict import MethodPrediction, predict_faces, predict_photo, reading


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def _prediction(mean):
    mean = np.asarray(mean, dtype=float)
    return MethodPrediction(samples=mean[None], mean=mean, spread=np.zeros(8), scores={})


def test_reading_in_plain_words():
    happy = np.eye(8)[1] * 0.9 + 0.1 / 8
    assert reading({"a": _prediction(happy), "b": _prediction(happy)}).startswith(
        "the methods agree: happiness"
    )
    split = np.array([0, 0, 0.45, 0, 0, 0, 0.4, 0.15])
    assert reading({"a": _prediction(split)}) == "uncertain between surprise and fear"
    sad = np.eye(8)[3] * 0.9 + 0.1 / 8
    assert reading({"a": _prediction(happy), "b": _prediction(sad)}) == (
        "the methods disagree: happiness, sadness"
    )


def test_predict_photo_runs_every_method_on_every_face():
    astronaut = Image.fromarray(skimage_data.astronaut())  # 512x512 RGB, one face
    net = tiny_network()
    methods = {
        "classical": build_method("classical", [net]),
        "mc": build_method("mc_dropout", [net]),
    }
    result = predict_photo(methods, _jpeg(astronaut), samples=7)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.methods["classical"].samples.shape == (1, 8)
    assert face.methods["mc"].samples.shape == (7, 8)
    assert face.methods["mc"].mean.sum() == pytest.approx(1.0)
    assert face.reading
    assert predict_faces(methods, np.empty((0, 48, 48), np.uint8)) == []
