"""Videos -> emotions over time: safe decoding from bytes, sampling by timestamp, faces found and
tracked, every method run on batches of crops, one table row per (time, track, method).

`predict_video` is the whole path; its pieces:

1. `probe_video` / `sample_frames`: the video's bytes are opened in memory with PyAV (never
   written to disk) and checked before any frame is decoded: size (``max_bytes``), a video
   stream with a codec this FFmpeg decodes, its resolution (``max_side``, ``max_pixels``) and
   declared duration (``max_seconds``). Frames are streamed from the container, never all held;
   at ``fps`` sampling instants ``k / fps`` seconds (from the stream's first timestamp) the first
   frame whose timestamp (``pts x time_base``) is at or after each instant is kept, so a
   variable frame rate is sampled by time, not by frame count. A file that ends well before
   the duration its header declares is refused as truncated.
2. faces in each kept frame, found as the photo path finds them (`detect_frames`: MTCNN on a
   copy at most ``DETECT_MAX_SIDE`` pixels a side, FER's framing, the same crops) but with one
   MTCNN call per ``DETECT_FRAMES`` frames and faces of at least ``min_face_px`` pixels looked
   for; boxes are linked into tracks by `bnnfer.media.tracking.Tracker` (IoU and centre distance
   against each track's predicted box, a gap of up to ``max_gap_s`` kept).
3. crops from several frames are batched (``batch_crops``) and each method runs once per batch
   (`bnnfer.media.predict.predict_faces`), batch ``b`` seeded ``seed + b``.

Every refusal is a `VideoError` whose message can be shown to the user as it is.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ..constants import EMOTIONS
from ..models.methods import Method
from .faces import MAX_FACES, MIN_DETECT_SIDE, Face, detection_copy, faces_from_boxes
from .predict import MethodPrediction, predict_faces
from .tracking import Tracker

MAX_VIDEO_BYTES = 200 * 2**20  # 200 MiB
MAX_VIDEO_SECONDS = 600.0  # 10 minutes
MAX_VIDEO_SIDE = 4096  # pixels, either side
MAX_VIDEO_PIXELS = 16_000_000  # width x height
DEFAULT_FPS = 5.0  # frames sampled per second of video
MAX_GAP_S = 1.0  # a track missed for longer ends
BATCH_CROPS = 32  # face crops per forward pass of each method
DETECT_FRAMES = 8  # sampled frames per MTCNN call (batched: about 2x cheaper a frame on a CPU)
MIN_FACE_PX = 40  # smallest face looked for (the photo path: 20); 2-3x cheaper detection
TRUNCATION_SLACK_S = 1.0  # a file may end this much before its declared duration
COLUMNS: tuple[str, ...] = (
    "time_s",
    "track",
    "method",
    *EMOTIONS,
    "predictive_entropy",
    "mutual_information",
    "top_spread",
)
BOX = ("x0", "y0", "x1", "y1")


class VideoError(ValueError):
    """A video that cannot be used; the message says why, in words for the person uploading."""


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be: bytes, seconds, pixels per side and per frame."""

    max_bytes: int = MAX_VIDEO_BYTES
    max_seconds: float = MAX_VIDEO_SECONDS
    max_side: int = MAX_VIDEO_SIDE
    max_pixels: int = MAX_VIDEO_PIXELS


@dataclass(frozen=True)
class VideoInfo:
    """What the container's header says about its video stream."""

    width: int
    height: int
    duration_s: float | None  # the video stream's; None where the header does not say
    codec: str
    container: str


@dataclass(frozen=True)
class TrackInfo:
    """One face followed through the video."""

    number: int
    first_s: float
    last_s: float
    sightings: int  # sampled frames in which it was found
    crop: np.ndarray  # uint8 (48, 48): its first crop, as the models saw it


@dataclass(frozen=True)
class VideoPrediction:
    """Every method on every tracked face at every sampled instant."""

    info: VideoInfo
    fps: float
    sampled: int  # frames kept
    table: pd.DataFrame  # one row per (time_s, track, method), columns `COLUMNS`
    faces: pd.DataFrame  # one row per (time_s, track): the face's box, columns time_s, track, BOX
    tracks: dict[int, TrackInfo]
    preview: Image.Image  # the first kept frame with a face, at most DETECT_MAX_SIDE a side
    preview_boxes: dict[int, tuple[float, float, float, float]]  # track -> box in preview px
    seconds: dict[str, float] = field(default_factory=dict)  # decode, detect, infer

    def to_dict(self, video: str) -> dict[str, Any]:
        """JSON-able, ``video`` naming the file (what ``bnnfer predict-video --json`` writes):
        the stream, the tracks, and the table's rows (4 decimals; NaN as null)."""
        rows = self.table.round(4).astype(object).where(self.table.notna(), None)
        return {
            "video": video,
            "size": [self.info.width, self.info.height],
            "duration_s": self.info.duration_s,
            "codec": self.info.codec,
            "fps": self.fps,
            "sampled_frames": self.sampled,
            "tracks": [
                {"track": t.number, "first_s": t.first_s, "last_s": t.last_s, "frames": t.sightings}
                for t in self.tracks.values()
            ],
            "faces": self.faces.round(1).to_dict(orient="records"),
            "rows": rows.to_dict(orient="records"),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def _open(data: bytes, limits: VideoLimits):
    """``(container, video stream, VideoInfo)`` after every check the header allows."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise VideoError(f"expected the video's bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise VideoError("the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise VideoError(
            f"the file is {size / 2**20:.1f} MiB; videos up to {limits.max_bytes / 2**20:.0f} "
            "MiB are accepted"
        )
    import av

    try:
        container = av.open(io.BytesIO(bytes(data)), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, EOFError, IndexError, UnicodeError):
        raise VideoError(
            "this file is not a video bnnfer can read (MP4, WebM, MOV, MKV...), or it is "
            "damaged or truncated"
        ) from None
    try:
        return (container, *_check_stream(container, limits))
    except BaseException:
        container.close()
        raise


def _check_stream(container, limits: VideoLimits):
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt == "image2":
        raise VideoError("this is a still image, not a video; the photo path takes it")
    if not container.streams.video:
        if container.streams.audio:
            raise VideoError("this file holds only audio: there is no picture to look at")
        raise VideoError("this file holds no video stream")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None:
        raise VideoError(
            "the video's codec is not one bnnfer can decode; H.264, H.265, VP8, VP9, AV1 "
            "and the other common codecs are"
        )
    width, height = context.width, context.height
    if width < 1 or height < 1:
        raise VideoError(f"the video's frames have no pixels ({width}x{height})")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise VideoError(
            f"the video is {width}x{height} pixels; at most {limits.max_side} a side and "
            f"{limits.max_pixels / 1e6:g} megapixels are accepted"
        )
    duration = _seconds(stream.duration, stream.time_base)
    if duration is None and container.duration is not None and len(container.streams) == 1:
        duration = container.duration / 1_000_000  # AV_TIME_BASE; the video is all it holds
    if duration is not None and duration > limits.max_seconds:
        raise VideoError(
            f"the video is {duration:.0f} s long; videos up to {limits.max_seconds:g} s are "
            "accepted"
        )
    info = VideoInfo(width, height, duration, context.name, fmt)
    return stream, info


def probe_video(data: bytes, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """The header's facts about a video, after the checks `sample_frames` makes before
    decoding; `VideoError` for a video that cannot be used."""
    container, _, info = _open(data, limits)
    container.close()
    return info


def sample_frames(
    data: bytes, fps: float = DEFAULT_FPS, limits: VideoLimits = VideoLimits()
) -> Iterator[tuple[float, Image.Image]]:
    """``(time_s, RGB frame)`` for the first frame at or after each instant ``k / fps`` seconds
    from the stream's start; frames are decoded one at a time. `VideoError` for a video that
    cannot be used, one that runs past ``max_seconds``, or one cut short of its declared
    duration."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    import av

    rate = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
    container, stream, info = _open(data, limits)
    stream.thread_type = "AUTO"
    time_base = stream.time_base or Fraction(1, 1_000_000)
    start = stream.start_time
    guessed = Fraction(stream.guessed_rate or stream.average_rate or 0)
    next_k, last, decoded = 0, None, 0
    try:
        for frame in container.decode(stream):
            decoded += 1
            if frame.pts is not None:
                if start is None:
                    start = frame.pts
                at = (frame.pts - start) * time_base  # exact: a Fraction
            elif guessed:  # a raw stream without timestamps: placed by its frame rate
                at = Fraction(decoded - 1) / guessed
            else:
                continue
            if at < 0:
                continue
            last = at
            if at > limits.max_seconds:
                raise VideoError(
                    f"the video runs past {limits.max_seconds:g} s; videos up to "
                    f"{limits.max_seconds:g} s are accepted"
                )
            if at * rate >= next_k:
                next_k = int(at * rate) + 1  # one frame covers every instant up to it
                yield float(at), _upright(frame.to_image(), frame.rotation)
    except (av.FFmpegError, OSError, EOFError, IndexError, MemoryError) as error:
        raise VideoError(f"the video is damaged or truncated ({error})") from None
    finally:
        container.close()
    if decoded == 0 or last is None:
        raise VideoError("no frame of the video could be decoded: it is damaged or truncated")
    if info.duration_s is not None and float(last) + TRUNCATION_SLACK_S < info.duration_s:
        raise VideoError(
            f"the video is truncated: its frames stop at {float(last):.1f} s of the "
            f"{info.duration_s:.1f} s its header declares"
        )


# a display matrix's rotation (degrees counterclockwise, as PyAV's VideoFrame.rotation gives it)
_TURNS = {
    90: Image.Transpose.ROTATE_90,
    -270: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
    -90: Image.Transpose.ROTATE_270,
    270: Image.Transpose.ROTATE_270,
}


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    """A frame turned as its display matrix says (phones store portrait video on its side)."""
    return image.transpose(_TURNS[rotation]) if rotation in _TURNS else image


@lru_cache(maxsize=8)
def load_video_detector(device: str = "cpu", min_face_px: int = MIN_FACE_PX):
    """facenet-pytorch's MTCNN as the photo path sets it up (`bnnfer.media.faces.load_detector`),
    looking for faces of at least ``min_face_px`` pixels (the photo path's: 20)."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device=device, post_process=False, min_face_size=min_face_px)


def detect_frames(images: Sequence[Image.Image], detector, max_faces: int = MAX_FACES) -> list:
    """The faces of each of ``images`` (RGB frames), as `bnnfer.media.faces.detect_faces` finds them
    in a photo (a copy at most ``DETECT_MAX_SIDE`` a side, FER's framing, the largest
    ``max_faces`` kept), with one MTCNN call per run of same-sized frames: a list of
    `bnnfer.media.faces.Face` lists."""
    found: list[list[Face]] = []
    first = 0
    while first < len(images):
        size = images[first].size
        stop = first + 1
        while stop < len(images) and images[stop].size == size:
            stop += 1
        found += _detect_same_size(images[first:stop], detector, max_faces)
        first = stop
    return found


def _detect_same_size(images: Sequence[Image.Image], detector, max_faces: int) -> list:
    copies = [detection_copy(image) for image in images]  # one size, so one scale
    scale = copies[0][1]
    if min(copies[0][0].size) < MIN_DETECT_SIDE:
        return [[] for _ in images]
    boxes, probabilities = detector.detect([small for small, _ in copies])
    return [
        faces_from_boxes(image, frame_boxes, frame_probabilities, scale, max_faces)[0]
        for image, frame_boxes, frame_probabilities in zip(
            images, boxes, probabilities, strict=True
        )
    ]


def _table_rows(
    at: float, number: int, predictions: Mapping[str, MethodPrediction]
) -> list[dict[str, Any]]:
    """The table's rows (`COLUMNS`) of one face at ``at`` s, in track ``number``."""
    rows = []
    for key, p in predictions.items():
        once = len(p.samples) == 1
        rows.append(
            {
                "time_s": at,
                "track": number,
                "method": key,
                **dict(zip(EMOTIONS, p.mean.tolist(), strict=True)),
                "predictive_entropy": p.scores["predictive_entropy"],
                "mutual_information": np.nan if once else p.scores["mutual_information"],
                "top_spread": np.nan if once else float(p.spread[np.argmax(p.mean)]),
            }
        )
    return rows


def predict_video(
    methods: Mapping[str, Method],
    data: bytes,
    fps: float = DEFAULT_FPS,
    samples: int = 30,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "auto",
    max_faces: int = MAX_FACES,
    max_gap_s: float = MAX_GAP_S,
    min_face_px: int = MIN_FACE_PX,
    batch_crops: int = BATCH_CROPS,
    limits: VideoLimits = VideoLimits(),
    progress: Callable[[float, float | None], None] | None = None,
    reread: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None,
) -> VideoPrediction:
    """Sample a video at ``fps``, find and track its faces, and run every method on them.

    ``progress(time_s, duration_s)`` is called as sampled frames are done (duration None where
    the header does not say). Returns a `VideoPrediction` whose ``table`` holds one row per
    (sampled time, track, method): the mean distribution over the method's samples ``(S, C)``
    in `EMOTIONS` columns, the predictive entropy, the mutual information and the standard
    deviation over the samples of the top emotion (both NaN for a method giving one sample).
    ``reread``, if given, maps every method's samples over all the clip's faces
    ``{key: (S, R, C)}`` to the samples the table is made of
    (`bnnfer.evaluation.adapt.video_reader`: the clip read under another class prior); the samples
    are then kept until the clip ends. `VideoError` when no face is found in any sampled frame."""
    if batch_crops < 1:
        raise ValueError(f"batch_crops must be >= 1, got {batch_crops}")
    info = probe_video(data, limits)
    detector = load_video_detector(device, min_face_px)
    tracker = Tracker(max_gap_s=max_gap_s)
    window: list[tuple[float, Image.Image]] = []  # sampled frames awaiting detection
    pending: list[tuple[float, int, np.ndarray]] = []  # (time_s, track, crop) awaiting models
    rows: list[dict[str, Any]] = []
    kept: list[tuple[float, int, dict[str, np.ndarray]]] = []  # samples awaiting `reread`
    sightings: list[dict[str, Any]] = []
    tracks: dict[int, TrackInfo] = {}
    seconds = {"decode": 0.0, "detect": 0.0, "infer": 0.0}
    preview, preview_boxes, sampled, batches = None, {}, 0, 0

    def infer(count: int) -> None:
        nonlocal batches
        began = time.perf_counter()
        batch, pending[:count] = pending[:count], []
        crops = np.stack([crop for _, _, crop in batch])
        per_face = predict_faces(
            methods, crops, samples=samples, seed=seed + batches, precision=precision
        )
        for (at, number, _), predictions in zip(batch, per_face, strict=True):
            if reread is not None:
                kept.append((at, number, {k: p.samples for k, p in predictions.items()}))
                continue
            rows.extend(_table_rows(at, number, predictions))
        batches += 1
        seconds["infer"] += time.perf_counter() - began

    def detect() -> None:
        nonlocal preview, preview_boxes
        began = time.perf_counter()
        found = detect_frames([image for _, image in window], detector, max_faces)
        for (at, image), faces in zip(window, found, strict=True):
            numbers = tracker.update(at, [face.box for face in faces])
            for face, number in zip(faces, numbers, strict=True):
                seen = tracks.get(number)
                tracks[number] = (
                    TrackInfo(number, at, at, 1, face.crop)
                    if seen is None
                    else TrackInfo(number, seen.first_s, at, seen.sightings + 1, seen.crop)
                )
                sightings.append(
                    {"time_s": at, "track": number, **dict(zip(BOX, face.box, strict=True))}
                )
                pending.append((at, number, face.crop))
            if faces and preview is None:
                preview, scale = detection_copy(image)
                preview_boxes = {
                    n: tuple(v * scale for v in face.box)
                    for face, n in zip(faces, numbers, strict=True)
                }
        seconds["detect"] += time.perf_counter() - began
        if progress is not None:
            progress(window[-1][0], info.duration_s)
        window.clear()
        while len(pending) >= batch_crops:
            infer(batch_crops)

    began = time.perf_counter()
    for at, image in sample_frames(data, fps, limits):
        seconds["decode"] += time.perf_counter() - began
        sampled += 1
        window.append((at, image))
        if len(window) >= DETECT_FRAMES:
            detect()
        began = time.perf_counter()
    seconds["decode"] += time.perf_counter() - began
    if window:
        detect()
    if pending:
        infer(len(pending))
    if kept:
        read = reread({k: np.stack([s[k] for _, _, s in kept], axis=1) for k in kept[0][2]})
        for index, (at, number, _) in enumerate(kept):
            predictions = {k: MethodPrediction.of(array[:, index]) for k, array in read.items()}
            rows.extend(_table_rows(at, number, predictions))
    if preview is None:
        raise VideoError(
            f"no face was found in any of the {sampled} frames sampled at {fps:g} per second; "
            f"faces should be frontal, well lit and at least about {min_face_px} pixels across"
        )
    order = {key: i for i, key in enumerate(methods)}
    table = pd.DataFrame(rows, columns=list(COLUMNS)).sort_values(
        ["time_s", "track", "method"], key=lambda c: c.map(order) if c.name == "method" else c
    )
    return VideoPrediction(
        info=info,
        fps=float(fps),
        sampled=sampled,
        table=table.reset_index(drop=True),
        faces=pd.DataFrame(sightings, columns=["time_s", "track", *BOX]),
        tracks=dict(sorted(tracks.items())),
        preview=preview,
        preview_boxes=preview_boxes,
        seconds=seconds,
    )
