"""The "Your video" page under streamlit.testing's AppTest, on the tiny bundle: a bundled clip
is analysed (with its progress bar inside the cached analysis) and the page lays out the boxed
first frame, a chart per track, the summary per track and the CSV download."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def video_page(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["samples"] = 5
    at.run()
    return at.switch_page("bnnfer_dashboard/screens/video.py").run()


def test_a_bundled_clip_is_tracked_charted_and_summarised(video_page):
    at = video_page
    assert not at.exception
    assert any("not written to disk" in c.value for c in at.caption)
    assert at.get("file_uploader")  # upload is the default source
    assert not at.get("plotly_chart")
    at.radio(key="video_source").set_value("astronaut-crossing.mp4").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # one chart per track
    summary = at.dataframe[0].value
    assert list(summary["track"]) == [1, 2] and set(summary["dominant"]) <= set(summary.columns)
    assert at.get("download_button")
    assert any("2 track(s)" in c.value for c in at.caption)
    # another method charted: no new analysis, the same tracks
    at.selectbox(key="video_method").set_value("classical").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
