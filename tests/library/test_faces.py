"""bnnfer.media.faces: photo decoding (modes, EXIF, bad bytes), MTCNN detection on a real face photo
(scikit-image's astronaut), FER's framing and the crops, and the face cap."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from bnnfer.media.faces import (
    FRAME_SIDE_PER_BOX_HEIGHT,
    PhotoError,
    crop_square,
    decode_photo,
    detect_faces,
    framing_square,
)


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


def test_crop_square_pads_at_the_border():
    gray = Image.fromarray(np.full((100, 100), 200, np.uint8))
    crop = crop_square(gray, (-20.0, -20.0, 30.0, 30.0))
    assert crop.shape == (48, 48) and np.all(crop == 200)


def test_crop_square_cuts_exactly_the_square():
    ramp = np.tile(np.arange(96, dtype=np.uint8), (96, 1))  # value = x
    crop = crop_square(Image.fromarray(ramp), (48.0, 0.0, 96.0, 48.0))  # the right half's top
    assert crop.min() >= 48 and crop.max() == 95


def test_framing_square_is_fer_framing_around_the_box():
    # a box 80 wide and 100 high centred at (150, 200)
    x0, y0, x1, y1 = framing_square((110.0, 150.0, 190.0, 250.0))
    side = 100 * FRAME_SIDE_PER_BOX_HEIGHT
    assert x1 - x0 == pytest.approx(side) and y1 - y0 == pytest.approx(side)
    assert (x0 + x1) / 2 == pytest.approx(150.0)
