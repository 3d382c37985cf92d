"""The faces a page draws: a FER+ face enlarged, a placeholder where no pixels are held, and
numbered boxes over a photo or a video frame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

import bnnfer
from bnnfer.inference import store

NO_FACES_NOTE = (
    "Faces are drawn as placeholders: the built-in evaluation holds votes and model outputs, "
    "no pixels. To see the faces, point the sidebar's data folder at a FER+ copy "
    "(`fer2013.csv` + `fer2013new.csv`, or the FERPlus `FER2013*/` folders)."
)


@st.cache_resource
def _placeholder(size: int) -> Image.Image:
    """A neutral grey tile with a faint face outline, where a face's pixels are not at hand."""
    image = Image.new("L", (size, size), 214)
    draw = ImageDraw.Draw(image)
    margin = size // 6
    draw.ellipse((margin, margin // 2, size - margin, size - margin // 2), outline=170, width=2)
    return image


def face_image(preds: store.SplitPredictions, index: int, scale: int = 3) -> Image.Image:
    """Face ``index`` shown at ``48 * scale`` px, or a placeholder where no images are held."""
    if preds.images is None:
        return _placeholder(bnnfer.IMAGE_SIZE * scale)
    return enlarge(preds.images[index], scale)


def numbered_boxes(image: Image.Image, boxes: Mapping[int, Sequence[float]]) -> Image.Image:
    """A copy of ``image`` with each box ``{number: (x0, y0, x1, y1)}`` drawn in red and its
    number above it (the photo page's faces, the video page's tracks)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    width = max(2, image.width // 200)
    for number, box in boxes.items():
        draw.rectangle(tuple(box), outline=(255, 64, 64), width=width)
        x0, y0 = box[0], max(0, box[1] - 12 * width)
        draw.text((x0 + width, y0), str(number), fill=(255, 64, 64), font_size=max(12, 10 * width))
    return image


def enlarge(face: np.ndarray, scale: int = 3) -> Image.Image:
    """A 48x48 face shown at ``48 * scale`` px, pixels kept square and sharp."""
    image = Image.fromarray(face)
    return image.resize((face.shape[1] * scale, face.shape[0] * scale), Image.Resampling.NEAREST)
