"""Your video: upload a clip (or pick a bundled one); faces are found, tracked and numbered, and
each track's emotions are shown over time with their uncertainty, the stretches where the
methods disagree shaded, a summary per track, and the whole table as a CSV."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from bnnfer.constants import EMOTIONS, PLACEMENT_LABELS
from bnnfer.evaluation import adapt
from bnnfer.evaluation.priors import parse_prior
from bnnfer.media.video import (
    DEFAULT_FPS,
    MAX_VIDEO_BYTES,
    MAX_VIDEO_SECONDS,
    VideoError,
    predict_video,
)
from bnnfer_dashboard import images, modelcard, priorchoice, serving, sidebar, sources, timelines

EXAMPLES = Path(__file__).resolve().parents[1] / "videos"  # the clips shipped with the dashboard
UPLOAD = "Upload a video"
MAX_CHARTS = 6  # tracks charted; the others are in the summary and the CSV

st.title("Your video")
st.markdown(
    "Upload a short video (MP4, WebM, MOV, MKV) or pick an example. Frames are sampled a few "
    "times a second by their timestamps, faces are found with MTCNN and followed from frame to "
    "frame (each followed face is a numbered *track*), and every method chosen in the sidebar "
    f"reads each face. Up to {MAX_VIDEO_BYTES // 2**20} MB and {MAX_VIDEO_SECONDS / 60:g} "
    "minutes; how it works: docs/video.md."
)
modelcard.privacy_note("video")


@st.cache_data(show_spinner=False, max_entries=8)
def _analyse(
    digest: str,
    _data: bytes,
    fps: float,
    samples: int,
    keys: tuple[str, ...],
    models_folder: str,
    placement: str,
    prior: str,
    _context: tuple | None,
):
    """The video's `VideoPrediction` read under the class prior ``prior`` (its rows and fits
    in ``_context``, `bnnfer_dashboard.priorchoice.video_context`; None as trained) and the
    estimates made over the clip, cached by the bytes' sha256 (``digest``) and the options, with a
    progress bar while it runs (made here, so that a cached call replays it empty)."""
    methods, _, _ = sources.load_models(models_folder, placement)
    bar = st.progress(0.0, text="Finding faces and running the models...")

    def progress(time_s: float, duration_s: float | None) -> None:
        if duration_s:
            bar.progress(min(1.0, time_s / duration_s), text=f"{time_s:.1f} of {duration_s:.1f} s")

    reread, estimates = None, {}
    if _context is not None:
        reread, estimates = adapt.video_reader(parse_prior(prior), *_context[1:])
    try:
        chosen = {k: methods[k] for k in keys}
        with serving.in_line("video"):  # a turn in the process's queue, its place shown meanwhile
            result = predict_video(
                chosen, _data, fps=fps, samples=samples, progress=progress, reread=reread
            )
        return result, dict(estimates)
    finally:
        bar.empty()


loaded = sidebar.models()
if loaded is not None:
    methods, labels, _ = loaded
    chosen = sidebar.settings()
    keys = [k for k in (chosen["methods"] or list(methods)) if k in methods]
    examples = sorted(EXAMPLES.glob("*.mp4"))
    source = st.radio(
        "Video", [UPLOAD, *(p.name for p in examples)], horizontal=True, key="video_source"
    )
    if source == UPLOAD:
        upload = st.file_uploader(
            "Video",
            type=["mp4", "webm", "mov", "mkv"],
            key="video_upload",
            max_upload_size=MAX_VIDEO_BYTES // 2**20,
            label_visibility="collapsed",
        )
        name, data = (upload.name, upload.getvalue()) if upload is not None else (None, None)
    else:
        name, data = source, (EXAMPLES / source).read_bytes()
    speed, layers = st.columns(2)
    fps = speed.slider(
        "Frames sampled per second",
        1,
        10,
        int(DEFAULT_FPS),
        key="video_fps",
        help="More frames follow quick changes better and take longer; 5 per second is enough "
        "for most expressions.",
    )
    # every sampled frame costs a pass of every row: on a CPU the head only (20-35x cheaper,
    # nearly as accurate: docs/benchmarks.md) unless chosen here
    fast = sources.fast_placement()
    placement = sidebar.PLACEMENT_CHOICES[
        layers.selectbox(
            "MC layers sampled (this page)",
            list(sidebar.PLACEMENT_CHOICES),
            index=list(sidebar.PLACEMENT_CHOICES).index(PLACEMENT_LABELS[fast]),
            key="video_placement",
            help="Which of the MC rows' stochastic layers are sampled for this video. It "
            "starts at the cheapest that is nearly as accurate on this device, since every "
            "sampled frame runs every row; the sidebar's choice applies to the other pages.",
        )
    ]
    if not keys:
        st.info("Choose at least one method in the sidebar.")
    elif data is not None:
        context = priorchoice.video_context(sources.models_dir(), sources.builtin_evaluation_dir())
        try:
            result, estimates = _analyse(
                hashlib.sha256(data).hexdigest(),
                data,
                fps,
                int(chosen["samples"]),
                tuple(keys),
                str(sources.models_dir()),
                placement,
                "fer+" if context is None else context[0],
                context,
            )
        except VideoError as error:
            st.error(f"{name}: {error}")
            st.stop()
        table, tracks = result.table, result.tracks
        seconds = result.seconds
        st.caption(
            f"{name}: {result.info.width}x{result.info.height}, {result.sampled} frames sampled "
            f"at {fps:g} per second, {len(tracks)} track(s). Decoding {seconds['decode']:.1f} s, "
            f"finding faces {seconds['detect']:.1f} s, the models {seconds['infer']:.1f} s."
        )
        if context is not None:
            st.caption(f"Every face of the clip read under the {context[0]} prior (sidebar).")
            priorchoice.show_estimates(estimates, labels, context[1], key="video_prior")
        left, right = st.columns([2, 3])
        first = min(t.first_s for t in tracks.values())
        left.image(
            images.numbered_boxes(result.preview, result.preview_boxes),
            caption=f"The first frame with a face ({first:.1f} s), its tracks numbered",
        )
        sampled = [k for k in keys if methods[k].sampled]
        method = right.selectbox(
            "Method charted",
            keys,
            index=keys.index(sampled[0]) if sampled else 0,
            format_func=lambda k: labels.get(k, k),
            key="video_method",
        )
        right.download_button(
            "Download the table (CSV)",
            table.to_csv(index=False, float_format="%.6g"),
            file_name=f"{Path(name).stem}-emotions.csv",
            mime="text/csv",
            key="video_csv",
            help="One row per sampled time, track and method: the 8 probabilities, predictive "
            "entropy, mutual information and the MC spread of the top emotion (docs/video.md).",
        )
        st.markdown(
            f"**Per track**, {labels.get(method, method)}: the dominant emotion, the share of "
            "the sampled instants each emotion was on top, and the mean uncertainty"
        )
        st.dataframe(
            timelines.track_summary(table, method).round(3),
            hide_index=True,
            key="video_summary",
            column_config={
                e: st.column_config.ProgressColumn(e, min_value=0.0, max_value=1.0, format="%.2f")
                for e in EMOTIONS
            },
        )
        longest = sorted(tracks.values(), key=lambda t: -t.sightings)[:MAX_CHARTS]
        if len(tracks) > MAX_CHARTS:
            st.info(
                f"Charts for the {MAX_CHARTS} tracks seen longest; every track is in the "
                "summary and the CSV."
            )
        for track in sorted(longest, key=lambda t: t.number):
            segments = timelines.disagreements(table, track.number, 1 / fps)
            crop, chart = st.columns([1, 6])
            crop.image(images.enlarge(track.crop, 2), caption=f"Track {track.number} as first seen")
            chart.plotly_chart(
                timelines.timeline_chart(
                    table, track.number, method, labels.get(method, method), segments
                ),
                key=f"video_chart_{track.number}",
            )
