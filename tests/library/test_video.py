"""bnnfer.media.video and bnnfer.media.tracking: sampling by timestamp, tracks that keep their
identity, the same distributions as the photo path, and every refusal a `VideoError`.

Clips are made with PyAV from scikit-image's astronaut (tests/helpers/clips.py): a few seconds at
small sizes, so that MTCNN, which dominates, sees about ten frames per test.
"""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import clips
from helpers.mutations import mutated_bytes
from helpers.nets import tiny_network
from hypothesis import HealthCheck, given, settings
from PIL import Image
from skimage import data as skimage_data

from bnnfer import EMOTIONS, build_method
from bnnfer.media.predict import predict_photo
from bnnfer.media.tracking import Tracker, iou
from bnnfer.media.video import (
    COLUMNS,
    VideoError,
    VideoLimits,
    predict_video,
    probe_video,
    sample_frames,
)
from bnnfer_dashboard import timelines as views

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def methods():
    net = tiny_network(seed=0)
    return {
        "classical": build_method("classical", [net]),
        "mc_dropout": build_method("mc_dropout", [net]),
    }


@pytest.fixture(scope="module")
def moving() -> bytes:
    return clips.moving_face(2.0, fps=10)


# -- tracking -------------------------------------------------------------------------------


def test_tracker_follows_moving_boxes_through_a_short_gap_and_ends_after_a_long_one():
    tracker = Tracker(max_gap_s=1.0)
    box = lambda x: (x, 10.0, x + 50.0, 70.0)  # noqa: E731
    assert tracker.update(0.0, [box(0)]) == [1]
    assert tracker.update(0.2, [box(20)]) == [1]
    assert tracker.update(0.4, [box(300), box(40)]) == [2, 1]  # a newcomer, far away
    assert tracker.update(0.6, []) == []  # both missed
    assert tracker.update(1.2, [box(100)]) == [1]  # 0.8 s later, where its velocity put it
    assert tracker.update(2.4, [box(100)]) == [3]  # 1.2 s unseen: a new track
    assert iou(box(0), box(0)) == 1.0 and iou(box(0), box(100)) == 0.0


def test_tracker_keeps_identities_of_crossing_boxes_by_their_velocity():
    tracker = Tracker()
    numbers = {}
    for step in range(11):
        a = (10.0 * step, 0.0, 10.0 * step + 40, 40.0)  # going right
        b = (100.0 - 10.0 * step, 10.0, 140.0 - 10.0 * step, 50.0)  # going left, lower
        found = tracker.update(step * 0.2, [b, a] if step % 2 else [a, b])
        pair = found[::-1] if step % 2 else found
        numbers.setdefault("a", pair[0])
        numbers.setdefault("b", pair[1])
        assert pair == [numbers["a"], numbers["b"]], step


# -- sampling by timestamp -------------------------------------------------------------------


def test_frames_are_sampled_at_the_instants_by_timestamp(moving):
    times = [t for t, _ in sample_frames(moving, fps=5)]
    assert times == pytest.approx([0.2 * k for k in range(10)], abs=1e-9)
    assert [t for t, _ in sample_frames(moving, fps=2.5)] == pytest.approx([0, 0.4, 0.8, 1.2, 1.6])
    info = probe_video(moving)
    assert (info.width, info.height, info.codec) == (320, 240, "h264")
    assert info.duration_s == pytest.approx(2.0)


def test_variable_frame_rate_keeps_the_first_frame_at_or_after_each_instant():
    times = [0.0, 0.05, 0.33, 0.34, 0.71, 1.0, 1.02, 1.5, 1.61]
    frames = [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(len(times))]
    for container in ("matroska", "mp4"):
        clip = clips.encode(frames, times=times, container=container)
        kept = list(sample_frames(clip, fps=5))
        # instants 0, 0.2, 0.4, ...: 0.33 covers 0.2, 0.71 covers 0.4 and 0.6, 1.0 covers 0.8
        # and 1.0, 1.5 covers 1.2 and 1.4, 1.61 covers 1.6
        assert [t for t, _ in kept] == pytest.approx([0, 0.33, 0.71, 1.0, 1.5, 1.61], abs=1e-9)
        shades = [int(np.asarray(image).mean() / 20 + 0.5) for _, image in kept]
        assert shades == [0, 2, 4, 5, 7, 8], container  # the frames themselves, not neighbours


def test_a_phone_videos_rotation_is_applied():
    """A portrait phone video is stored on its side with a display matrix that turns it 90
    degrees clockwise (an MP4 track header's matrix 0 1 / -1 0, as phones write it)."""
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:16, :16] = (255, 0, 0)  # red top-left as stored
    clip = bytearray(clips.encode([stored] * 3, pix_fmt="yuv444p"))
    identity = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    at = clip.find(identity, clip.find(b"tkhd"))
    clip[at : at + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    _, image = next(sample_frames(bytes(clip)))
    upright = np.asarray(image)
    assert upright.shape == (64, 48, 3)  # portrait
    assert upright[:16, -16:, 0].mean() > 200 and upright[:16, :16, 0].mean() < 50  # top-right


# -- tracks and predictions ------------------------------------------------------------------


def test_a_moving_face_is_one_track_sampled_at_every_instant(methods, moving):
    result = predict_video(methods, moving, fps=5, samples=3)
    assert result.sampled == 10 and list(result.tracks) == [1]
    assert result.tracks[1].sightings == 10 and result.tracks[1].crop.shape == (48, 48)
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 10 * 2
    assert sorted(set(table["time_s"])) == pytest.approx([0.2 * k for k in range(10)])
    classical, mc = table[table.method == "classical"], table[table.method == "mc_dropout"]
    np.testing.assert_allclose(table[list(EMOTIONS)].sum(axis=1), 1.0, atol=1e-5)
    assert classical["mutual_information"].isna().all() and classical["top_spread"].isna().all()
    assert (mc["mutual_information"] >= 0).all() and (mc["top_spread"] >= 0).all()
    # the face glides right: the boxes' centres increase
    centres = (result.faces.x0 + result.faces.x1) / 2
    assert centres.is_monotonic_increasing
    assert set(result.preview_boxes) == {1} and result.seconds["detect"] > 0


def test_two_crossing_faces_keep_their_tracks(methods):
    clip, centres = clips.crossing_faces(3.0, fps=10)
    result = predict_video(methods, clip, fps=5, samples=2)
    assert len(result.tracks) == 2
    identity = {}
    for row in result.faces.itertuples():
        (ax, ay), (bx, by) = centres(row.time_s)
        cx, cy = (row.x0 + row.x1) / 2, (row.y0 + row.y1) / 2
        who = "A" if (cx - ax) ** 2 + (cy - ay) ** 2 < (cx - bx) ** 2 + (cy - by) ** 2 else "B"
        assert identity.setdefault(who, row.track) == row.track, (row.time_s, who)
    assert set(identity) == {"A", "B"}
    # both are found at the start and at the end, each under its own number
    assert len(result.faces[result.faces.time_s == 0]) == 2
    assert len(result.faces[result.faces.time_s == result.faces.time_s.max()]) == 2


def test_a_still_clip_gives_the_photo_paths_distributions(methods):
    """Lossless FFV1 (RGB) decodes to the photo's exact pixels, and with MTCNN set up as for
    photos the boxes and crops are the photo's; what is left is float summation order in a
    batch of another size, far below 1e-4. MC rows: each batch is seeded seed + b, so with one
    crop per batch the first is drawn exactly as `predict_photo` draws it."""
    photo = skimage_data.astronaut()
    png = io.BytesIO()
    Image.fromarray(photo).save(png, "PNG")
    expected = predict_photo(methods, png.getvalue(), samples=5).faces[0].methods
    clip = clips.still(photo, 4, fps=10, codec="ffv1", container="matroska", pix_fmt="bgr0")
    still = predict_video(methods, clip, fps=5, samples=5, min_face_px=20, batch_crops=1)
    table = still.table
    assert list(still.tracks) == [1] and still.sampled == 2
    for key, prediction in expected.items():
        rows = table[table.method == key][list(EMOTIONS)].to_numpy()
        compared = rows[:1] if key == "mc_dropout" else rows
        np.testing.assert_allclose(
            compared, np.tile(prediction.mean, (len(compared), 1)), atol=1e-4
        )
    mc = table[table.method == "mc_dropout"].iloc[0]
    assert mc["mutual_information"] == pytest.approx(
        expected["mc_dropout"].scores["mutual_information"], abs=1e-4
    )


# -- refusals --------------------------------------------------------------------------------


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1), sound.setsampwidth(2), sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 8000)
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "PNG")
    return buffer.getvalue()


def _unknown_codec() -> bytes:
    """An MKV whose codec ID names no codec FFmpeg knows."""
    clip = clips.encode([np.zeros((32, 48, 3), np.uint8)] * 3, codec="ffv1", container="matroska")
    assert b"V_FFV1" in clip
    return clip.replace(b"V_FFV1", b"V_QQQQ")


def _grey(frames: int = 5, size: tuple[int, int] = (64, 48), **kwargs) -> bytes:
    return clips.encode([np.full((size[1], size[0], 3), 128, np.uint8)] * frames, **kwargs)


@pytest.mark.parametrize(
    ("make", "limits", "message"),
    [
        (lambda: b"", {}, "empty"),
        (lambda: b"not a video at all, just words" * 20, {}, "not a video"),
        (_wav, {}, "only audio"),
        (_png, {}, "still image"),
        (_unknown_codec, {}, "codec"),
        (lambda: _grey(size=(4112, 16)), {}, "4112x16 pixels"),
        (lambda: _grey(size=(64, 48)), {"max_pixels": 3000}, "megapixels"),
        (lambda: _grey(30, fps=10), {"max_seconds": 2.0}, "3 s long"),
        (lambda: _grey(5), {"max_bytes": 100}, "MiB"),
        (lambda: clips.moving_face(1.0)[:2000], {}, "damaged or truncated"),
        (lambda: _grey(40, container="matroska")[:-1500], {}, "truncated"),
    ],
    ids=[
        "empty",
        "not-a-video",
        "audio-only",
        "still-image",
        "unknown-codec",
        "enormous-side",
        "too-many-pixels",
        "too-long",
        "too-large",
        "truncated-mp4",
        "truncated-mkv",
    ],
)
def test_every_unusable_video_is_a_video_error(make, limits, message):
    with pytest.raises(VideoError, match=message):
        list(sample_frames(make(), fps=5, limits=VideoLimits(**limits)))


def test_a_video_running_past_the_limit_without_a_declared_duration_is_stopped():
    # a raw H.264 stream declares no duration: the limit is checked on the frames' times
    clip = clips.encode([np.full((48, 64, 3), 90, np.uint8)] * 40, fps=10, container="h264")
    assert probe_video(clip).duration_s is None
    with pytest.raises(VideoError, match="runs past 2 s"):
        list(sample_frames(clip, fps=5, limits=VideoLimits(max_seconds=2.0)))


def test_a_video_without_a_face_is_a_video_error(methods):
    with pytest.raises(VideoError, match="no face was found in any of the 6 frames"):
        predict_video(methods, _grey(12, size=(96, 64)), fps=5)


_FRAMES = [np.full((24, 32, 3), 40 * i, np.uint8) for i in range(4)]
_SEEDS = [
    clips.encode(_FRAMES, container="mp4"),
    clips.encode(_FRAMES, container="matroska"),
    clips.encode(_FRAMES, codec="libvpx-vp9", container="webm"),
]


@settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_bytes(_SEEDS, reach=100_000))
def test_mutated_video_bytes_raise_only_video_errors(data):
    try:
        for time_s, image in sample_frames(data, fps=5):
            assert time_s >= 0 and image.mode == "RGB"
    except VideoError:
        pass


# -- the bundled clips ------------------------------------------------------------------------


def test_the_bundled_clips_are_small_and_show_faces():
    folder = ROOT / "bnnfer_dashboard" / "videos"
    shipped = sorted(folder.glob("*.mp4"))
    assert len(shipped) == 2
    for path in shipped:
        assert path.stat().st_size < 300_000
        info = probe_video(path.read_bytes())
        assert info.duration_s <= 5 and max(info.width, info.height) <= 400
    assert "public domain" in (folder / "README.md").read_text()


# -- what the page shows ---------------------------------------------------------------------


def _table() -> pd.DataFrame:
    """Track 1 over 7 instants 0.2 s apart: `mc` says happiness throughout, `classical` says
    surprise at 0.4, 0.6 and 1.2 s."""
    rows = []
    for k in range(7):
        at = round(0.2 * k, 1)
        for method in ("classical", "mc"):
            top = "surprise" if method == "classical" and at in (0.4, 0.6, 1.2) else "happiness"
            probs = {e: (0.65 if e == top else 0.05) for e in EMOTIONS}
            sampled = method == "mc"
            rows.append(
                {"time_s": at, "track": 1, "method": method, **probs,
                 "predictive_entropy": 1.0, "mutual_information": 0.1 if sampled else np.nan,
                 "top_spread": 0.05 if sampled else np.nan}
            )  # fmt: skip  # one row's columns together
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_the_page_shades_disagreements_and_summarises_each_track():
    table = _table()
    segments = views.disagreements(table, 1, 0.2)
    np.testing.assert_allclose(segments, [(0.3, 0.7), (1.1, 1.3)])
    summary = views.track_summary(table, "classical").iloc[0]
    assert summary["dominant"] == "happiness"
    assert summary["surprise"] == pytest.approx(3 / 7) and summary["happiness"] == pytest.approx(
        4 / 7
    )
    assert np.isnan(summary["mean MI"])
    assert views.track_summary(table, "mc").iloc[0]["mean MI"] == pytest.approx(0.1)
    figure = views.timeline_chart(table, 1, "mc", "MC", segments)
    assert len(figure.layout.shapes) == 2 * len(segments)  # shaded in both panels
    assert figure.data[0].fill == "toself"  # the MC spread's band
    assert len(views.timeline_chart(table, 1, "classical", "C").data) == 8 + 1  # no band
