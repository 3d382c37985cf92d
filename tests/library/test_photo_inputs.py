"""Untrusted photos: every kind of bad or unusual input gives a correct result or a `PhotoError`
(never another exception, a hang or a crash). A property test feeds random and mutated bytes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tomllib
from helpers.mutations import mutated_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from bnnfer.media.faces import MAX_PHOTO_BYTES, PhotoError, decode_photo, detect_faces

ROOT = Path(__file__).resolve().parents[2]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (no pixel data to speak of)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )  # fmt: skip  # one PNG chunk a line


def _asymmetric() -> Image.Image:
    array = np.zeros((30, 50, 3), np.uint8)
    array[:10, :10] = (255, 0, 0)  # a red corner top-left
    array[-5:, :] = (0, 0, 255)  # a blue band at the bottom
    return Image.fromarray(array)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


# the transpose that undoes each EXIF orientation (PIL's exif_transpose applies the inverse)
_STORE_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation):
    upright = _asymmetric()
    stored = (
        upright if _STORE_AS[orientation] is None else upright.transpose(_STORE_AS[orientation])
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_photo(_encode(stored, "PNG", exif=exif.tobytes()))
    assert decoded.size == upright.size
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(upright))


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(PhotoError, match="megapixels"):
        decode_photo(_png_header_only(100_000, 100_000))
    with pytest.raises(PhotoError, match="megapixels"):
        decode_photo(_png_header_only(40_000, 1_001))


def test_truncated_png_and_jpeg():
    image = _asymmetric().resize((300, 200))
    for fmt in ("PNG", "JPEG", "WEBP"):
        data = _encode(image, fmt)
        with pytest.raises(PhotoError):
            decode_photo(data[: len(data) // 2])


def test_animated_gif_and_multipage_tiff_give_the_first_frame():
    first = Image.new("RGB", (40, 30), (255, 0, 0))
    second = Image.new("RGB", (40, 30), (0, 0, 255))
    for fmt in ("GIF", "TIFF", "WEBP"):
        data = _encode(first, fmt, save_all=True, append_images=[second])
        decoded = np.asarray(decode_photo(data))
        assert decoded.shape == (30, 40, 3)
        assert decoded[..., 0].mean() > 200 and decoded[..., 2].mean() < 50, fmt


def test_sixteen_bit_png_is_scaled_to_eight_bits():
    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    decoded = np.asarray(decode_photo(_encode(Image.fromarray(ramp), "PNG")))
    assert decoded.shape == (32, 64, 3)
    assert decoded.min() == 0 and decoded.max() == 255


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "PA", "1", "L", "CMYK", "RGB"])
def test_every_mode_becomes_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = _asymmetric().convert(mode) if mode != "PA" else _asymmetric().convert("P")
    decoded = decode_photo(_encode(image, fmt))
    assert decoded.mode == "RGB" and decoded.size == (50, 30)


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert np.asarray(decode_photo(_encode(rgba, "PNG"))).min() == 255


def test_one_pixel_and_faceless_photos_find_no_face():
    assert detect_faces(decode_photo(_encode(Image.new("RGB", (1, 1)), "PNG"))).faces == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3)).astype(np.uint8)
    assert detect_faces(decode_photo(_encode(Image.fromarray(noise), "PNG"))).faces == []


def test_upload_cap_in_streamlit_config_matches_the_library():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_PHOTO_BYTES
    with pytest.raises(PhotoError, match="MiB"):
        decode_photo(b"\x89PNG" + b"0" * MAX_PHOTO_BYTES)


_SEEDS = [
    _encode(_asymmetric(), "PNG"),
    _encode(_asymmetric(), "JPEG"),
    _encode(_asymmetric(), "GIF"),
    _encode(_asymmetric(), "WEBP"),
    _encode(_asymmetric(), "TIFF"),
    _encode(_asymmetric(), "BMP"),
]


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_bytes(_SEEDS, reach=10_000))
def test_mutated_image_bytes_raise_only_photo_errors(data):
    try:
        image = decode_photo(data)
    except PhotoError:
        return
    assert image.mode == "RGB" and image.width >= 1 and image.height >= 1


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=4096))
def test_random_bytes_raise_only_photo_errors(data):
    try:
        decode_photo(data)
    except PhotoError:
        pass


def test_only_documented_exceptions_reach_the_user_for_odd_types():
    for value in (None, 3, "a string", [1, 2]):
        with pytest.raises(PhotoError):
            decode_photo(value)  # type: ignore[arg-type]
    assert isinstance(decode_photo(memoryview(_SEEDS[0])), Image.Image)
    assert ImageOps  # used above through decode_photo's EXIF path
