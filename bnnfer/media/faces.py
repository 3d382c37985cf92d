"""Photos -> FER-style face crops: safe decoding, EXIF orientation, MTCNN detection, 48x48 crops.

A user's photo goes through three steps:

1. `decode_photo`: bytes -> RGB ``PIL.Image``. The size in bytes and the pixel count in the
   header are checked *before* any pixel is decoded (decompression bombs are refused), the EXIF
   orientation is applied, the first frame of an animation is taken, and every mode (CMYK,
   16-bit, RGBA/LA/P with transparency on white, 1-bit, grayscale) becomes RGB.
2. `detect_faces`: facenet-pytorch's MTCNN runs on a copy downscaled to at most
   ``DETECT_MAX_SIDE`` pixels (a 3000 px photo takes seconds at full size on a CPU); boxes are
   scaled back. At most ``max_faces`` faces are kept (the largest), the rest are counted.
3. Each box becomes the square FER2013 would have cut (`framing_square`), which is cut from the
   full-resolution grayscale photo and resized to 48x48 uint8 (`crop_square`). The rule was
   fitted on FER+ itself: Train faces set into simulated photos, MTCNN run on them, and the
   square each face came from compared with MTCNN's box (``benchmarks/framing.py``; the fit,
   its check on Valid and the accuracy at other framings are in
   ``benchmarks/results/framing.json`` and docs/photos.md).

Every refusal is a `PhotoError` whose message can be shown to the user as it is.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..constants import IMAGE_SIZE

MAX_PHOTO_BYTES = 20 * 1024 * 1024  # 20 MiB, the same cap as .streamlit/config.toml
MAX_PHOTO_PIXELS = 40_000_000  # width x height read from the header, before decoding
MAX_FACES = 12  # faces analysed per photo; the largest are kept
MAX_PHOTOS_PER_UPLOAD = 10  # photos one dashboard upload may hold (one user cannot hold the CPU)
DETECT_MAX_SIDE = 1024  # MTCNN runs on a copy no larger than this
MIN_DETECT_SIDE = 12  # MTCNN's smallest window: a smaller copy holds no face it can find
# FER's framing from MTCNN's box: a square whose side is this multiple of the box height,
# centred on the box, lowered by this share of its side (fitted by benchmarks/framing.py)
FRAME_SIDE_PER_BOX_HEIGHT = 0.95
FRAME_CENTRE_DY = -0.02
MIN_FACE_PROBABILITY = 0.9


class PhotoError(ValueError):
    """A photo that cannot be used; the message says why, in words for the person uploading."""


@dataclass(frozen=True)
class Face:
    """One detected face: its box in the photo's pixels, the detector's probability, the crop."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the (oriented) photo
    probability: float
    crop: np.ndarray  # uint8 (48, 48)


@dataclass(frozen=True)
class Detection:
    """Faces found in one photo (largest first) and how many more were set aside."""

    image: Image.Image  # the decoded, oriented RGB photo
    faces: list[Face] = field(default_factory=list)
    dropped: int = 0  # faces beyond max_faces, not analysed


def check_photo_count(count: int, limit: int = MAX_PHOTOS_PER_UPLOAD) -> None:
    """Refuse an upload of more than ``limit`` photos with a `PhotoError` saying the cap."""
    if count > limit:
        raise PhotoError(
            f"{count} photos were uploaded at once; at most {limit} are analysed per upload. "
            "Remove some and they will be analysed."
        )


def decode_photo(
    data: bytes, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PHOTO_PIXELS
) -> Image.Image:
    """Image bytes -> an oriented RGB image, or a `PhotoError` that says what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PhotoError(f"expected the photo's bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise PhotoError("the file is empty (0 bytes)")
    if size > max_bytes:
        raise PhotoError(
            f"the file is {size / 2**20:.1f} MiB; photos up to {max_bytes / 2**20:.0f} MiB "
            "are accepted"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. odd TIFF tags: not the user's news
            image = Image.open(io.BytesIO(bytes(data)))  # reads the header only
            width, height = image.size
            if width * height > max_pixels:
                raise PhotoError(
                    f"the image is {width}x{height} pixels; at most {max_pixels // 1_000_000} "
                    "megapixels are accepted"
                )
            if width < 1 or height < 1:
                raise PhotoError(f"the image has no pixels ({width}x{height})")
            image.seek(0)  # first frame of an animated GIF/WebP or multi-page TIFF
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return _to_rgb(image)
    except PhotoError:
        raise
    except UnidentifiedImageError:
        raise PhotoError("this file is not an image bnnfer can read (JPEG, PNG, WebP...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError(
            "the image is too large to decode safely; at most "
            f"{max_pixels // 1_000_000} megapixels are accepted"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as error:
        raise PhotoError(f"the image is damaged or truncated ({error})") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparent pixels become white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@lru_cache(maxsize=4)
def load_detector(device: str = "cpu"):
    """facenet-pytorch's MTCNN (its weights ship in the wheel), one per device and process."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device=device, post_process=False)


def framing_square(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The square ``(x0, y0, x1, y1)`` FER2013 would have cut around MTCNN's ``box``: side
    ``FRAME_SIDE_PER_BOX_HEIGHT`` times the box height, centred on the box (shifted down by
    ``FRAME_CENTRE_DY`` of the side)."""
    x0, y0, x1, y1 = box
    side = (y1 - y0) * FRAME_SIDE_PER_BOX_HEIGHT
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + FRAME_CENTRE_DY * side
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def crop_square(gray: Image.Image, square: tuple[float, float, float, float]) -> np.ndarray:
    """The ``square`` ``(x0, y0, x1, y1)`` of a grayscale image as a 48x48 uint8 crop; parts
    outside the image are filled with its edge pixels."""
    x0, y0, x1, y1 = square
    side = max(x1 - x0, y1 - y0)
    array = np.asarray(gray)
    pad = int(np.ceil(side))
    padded = np.pad(array, pad, mode="edge")
    x, y = round(x0) + pad, round(y0) + pad
    size = max(1, round(side))
    patch = Image.fromarray(padded[y : y + size, x : x + size])
    return np.asarray(patch.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))


def detection_copy(image: Image.Image) -> tuple[Image.Image, float]:
    """``(copy, scale)``: ``image`` resized (bilinear) to at most `DETECT_MAX_SIDE` pixels a
    side for MTCNN, and the factor (<= 1) from the image's pixels to the copy's; the image
    itself, with 1.0, where it is no larger."""
    scale = min(1.0, DETECT_MAX_SIDE / max(image.size))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR), scale


def faces_from_boxes(
    image: Image.Image,
    boxes: np.ndarray | None,
    probabilities: np.ndarray | None,
    scale: float,
    max_faces: int = MAX_FACES,
    min_probability: float = MIN_FACE_PROBABILITY,
) -> tuple[list[Face], int]:
    """MTCNN's ``boxes`` ``(K, 4)`` and ``probabilities`` ``(K,)`` on a detection copy made at
    ``scale`` (`detection_copy`), as faces of ``image``: those at least ``min_probability``
    sure, largest first, each cut at FER's framing from the full-resolution grayscale image.
    Returns the first ``max_faces`` and how many more were found."""
    if boxes is None:
        return [], 0
    found = [
        (tuple(float(v) / scale for v in box), float(p))
        for box, p in zip(boxes, probabilities, strict=True)
        if p is not None and p >= min_probability
    ]
    found.sort(key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]), reverse=True)
    gray = image.convert("L")
    faces = [
        Face(box=box, probability=p, crop=crop_square(gray, framing_square(box)))
        for box, p in found[:max_faces]
    ]
    return faces, max(0, len(found) - max_faces)


def detect_faces(
    image: Image.Image,
    max_faces: int = MAX_FACES,
    device: str = "cpu",
    min_probability: float = MIN_FACE_PROBABILITY,
) -> Detection:
    """Find faces in an RGB photo with MTCNN; returns the largest ``max_faces`` with crops."""
    if max_faces < 1:
        raise ValueError(f"max_faces must be >= 1, got {max_faces}")
    small, scale = detection_copy(image)
    if min(small.size) < MIN_DETECT_SIDE:
        return Detection(image=image)
    boxes, probabilities = load_detector(device).detect(small)
    faces, dropped = faces_from_boxes(
        image, boxes, probabilities, scale, max_faces, min_probability
    )
    return Detection(image=image, faces=faces, dropped=dropped)
