"""Tiny video clips for the tests, made with PyAV from scikit-image's astronaut (Eileen Collins,
a NASA photograph in the public domain): one face moving, two faces crossing, a still photo.

``python tests/helpers/clips.py bnnfer_dashboard/videos`` writes the clips the dashboard ships
(bnnfer_dashboard/videos/).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data as skimage_data

BACKGROUND = (96, 110, 120)
# the astronaut's head with a margin (MTCNN's box in the 512x512 photo: x 181-268, y 62-172)
HEAD = (130, 10, 320, 225)


def head(scale: float = 1.0, mirror: bool = False) -> Image.Image:
    """The astronaut's head and shoulders, ``scale`` times its size in the photo."""
    sprite = Image.fromarray(skimage_data.astronaut()).crop(HEAD)
    if mirror:
        sprite = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    size = (round(sprite.width * scale), round(sprite.height * scale))
    return sprite.resize(size, Image.Resampling.LANCZOS)


def scene(
    size: tuple[int, int], sprites: Sequence[tuple[Image.Image, tuple[int, int]]]
) -> np.ndarray:
    """An RGB frame ``(H, W, 3)``: the sprites pasted at their top-left corners, in order."""
    canvas = Image.new("RGB", size, BACKGROUND)
    for sprite, place in sprites:
        canvas.paste(sprite, place)
    return np.asarray(canvas)


def encode(
    frames: Sequence[np.ndarray],
    times: Sequence[float] | None = None,
    fps: int = 10,
    codec: str = "libx264",
    container: str = "mp4",
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """Frames ``(H, W, 3)`` uint8 as a video's bytes (``pix_fmt="gbrp"`` with ``ffv1``: lossless
    RGB). ``times`` (seconds, increasing) gives a
    variable frame rate: each frame's pts on a 1/1000 s time base; else one frame per ``1/fps``.
    """
    buffer = io.BytesIO()
    height, width = frames[0].shape[:2]
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def moving_face(
    seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (320, 240), **kwargs
) -> bytes:
    """One face gliding left to right and growing a little."""
    frames = []
    count = round(seconds * fps)
    for i in range(count):
        t = i / max(1, count - 1)
        sprite = head(0.55 + 0.15 * t)
        x = round(10 + t * (size[0] - sprite.width - 20))
        frames.append(scene(size, [(sprite, (x, round(12 + 10 * t)))]))
    return encode(frames, fps=fps, **kwargs)


def crossing_faces(seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (400, 150)):
    """Two faces crossing: A (the astronaut) goes right, B (her mirror image, drawn over A, a
    little lower) goes left; as they pass, B hides A's chin and their boxes overlap. Returns the
    clip's bytes and a function giving A's and B's sprite centres at a time."""
    a, b = head(0.5), head(0.5, mirror=True)
    count = round(seconds * fps)
    span = size[0] - a.width

    def corners(t: float) -> tuple[tuple[int, int], tuple[int, int]]:
        share = t / seconds
        return (round(share * span), 0), (round((1 - share) * span), size[1] - b.height)

    frames = []
    for i in range(count):
        place_a, place_b = corners(i / fps)
        frames.append(scene(size, [(a, place_a), (b, place_b)]))

    def centres(t: float) -> tuple[tuple[float, float], tuple[float, float]]:
        (ax, ay), (bx, by) = corners(t)
        return (ax + a.width / 2, ay + a.height / 2), (bx + b.width / 2, by + b.height / 2)

    return encode(frames, fps=fps), centres


def still(photo: np.ndarray, frames: int = 6, fps: int = 10, **kwargs) -> bytes:
    """``photo`` held still for ``frames`` frames."""
    return encode([photo] * frames, fps=fps, **kwargs)


def write_bundled(folder: Path) -> list[Path]:
    """The dashboard's example clips: a face moving and two faces crossing (MP4, H.264)."""
    folder.mkdir(parents=True, exist_ok=True)
    moving = moving_face(4.0, fps=10, size=(320, 240), options={"crf": "30"})
    crossing, _ = crossing_faces(4.0, fps=10)
    paths = [folder / "astronaut-moving.mp4", folder / "astronaut-crossing.mp4"]
    for path, clip in zip(paths, (moving, crossing), strict=True):
        path.write_bytes(clip)
    return paths


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bnnfer_dashboard/videos")
    for path in write_bundled(folder):
        print(f"wrote {path} ({path.stat().st_size / 1000:.0f} kB)")
