"""bnnfer.faces and bnnfer.predict: photo decoding (modes, EXIF, bad bytes), MTCNN detection on a
real face photo (scikit-image's astronaut), crops, the face cap, and the plain-words reading."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from bnnfer import NetworkConfig, build_method
from bnnfer.faces import PhotoError, decode_photo, detect_faces, square_crop
from bnnfer.networks import FaceCNN
from bnnfer.predict import MethodPrediction, predict_faces, predict_photo, reading


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())  # 512x512 RGB, one face


def test_decode_gives_rgb_for_every_mode(astronaut):
    for mode in ("L", "RGBA", "LA", "P", "1", "CMYK", "I;16", "I"):
        image = astronaut.convert(mode) if mode not in ("I;16",) else astronaut.convert("I")
        fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode in ("I;16", "I") else "PNG")
        decoded = decode_photo(_encode(image, fmt))
        assert decoded.mode == "RGB" and decoded.size == (512, 512), mode


def test_exif_orientation_is_applied(astronaut):
    wide = astronaut.crop((0, 0, 512, 256))  # 512 wide, 256 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    decoded = decode_photo(_encode(wide, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (256, 512)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (None, "expected the photo's bytes"),
    ],
)
def test_unusable_bytes_get_a_clear_error(payload, message):
    with pytest.raises(PhotoError, match=message):
        decode_photo(payload)


def test_truncated_and_oversized_photos_are_refused(astronaut):
    jpeg = _encode(astronaut, "JPEG")
    with pytest.raises(PhotoError, match="damaged or truncated"):
        decode_photo(jpeg[: len(jpeg) // 3])
    with pytest.raises(PhotoError, match="MiB"):
        decode_photo(jpeg, max_bytes=1000)
    with pytest.raises(PhotoError, match="megapixels"):
        decode_photo(jpeg, max_pixels=100_000)


def test_astronaut_face_is_found_and_cropped(astronaut):
    detection = detect_faces(astronaut)
    assert len(detection.faces) == 1 and detection.dropped == 0
    face = detection.faces[0]
    x0, y0, x1, y1 = face.box
    # the face in this photo lies around x 170-260, y 60-180
    assert 140 < x0 < 220 and 220 < x1 < 300 and 30 < y0 < 120 and 130 < y1 < 220
    assert face.probability > 0.95
    assert face.crop.shape == (48, 48) and face.crop.dtype == np.uint8


def test_no_face_in_a_flat_or_tiny_image():
    assert detect_faces(Image.new("RGB", (300, 200), (120, 120, 120))).faces == []
    assert detect_faces(Image.new("RGB", (1, 1))).faces == []


def test_more_faces_than_the_cap_keeps_the_largest(astronaut):
    grid = Image.new("RGB", (1024, 1024))
    for i, (x, y) in enumerate([(0, 0), (512, 0), (0, 512), (512, 512)]):
        tile = astronaut if i == 0 else astronaut.resize((400, 400))
        grid.paste(tile, (x, y))
    detection = detect_faces(grid, max_faces=2)
    assert len(detection.faces) == 2 and detection.dropped == 2
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in detection.faces]
    assert areas[0] >= areas[1]
    assert detection.faces[0].box[0] < 512 and detection.faces[0].box[1] < 512  # the big one


def test_square_crop_pads_at_the_border():
    gray = Image.fromarray(np.full((100, 100), 200, np.uint8))
    crop = square_crop(gray, (-20.0, -20.0, 30.0, 30.0))
    assert crop.shape == (48, 48) and np.all(crop == 200)


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


def test_predict_photo_runs_every_method_on_every_face(astronaut):
    config = NetworkConfig(widths=(4, 8), convs_per_stage=1, head_width=8)
    net = FaceCNN(config).eval()
    methods = {
        "classical": build_method("classical", [net]),
        "mc": build_method("mc_dropout", [net]),
    }
    result = predict_photo(methods, _encode(astronaut, "JPEG"), samples=7)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.methods["classical"].samples.shape == (1, 8)
    assert face.methods["mc"].samples.shape == (7, 8)
    assert face.methods["mc"].mean.sum() == pytest.approx(1.0)
    assert face.reading
    assert predict_faces(methods, np.empty((0, 48, 48), np.uint8)) == []
