"""The dashboard's navigation: its pages, in order, as `st.Page` objects for `st.navigation`.

The pages live in ``screens/`` beside the entry script (``bnnfer_dashboard/app.py``), by paths
that hold wherever the package is: Streamlit's older multipage mode starts only for a folder
named ``pages/`` beside the main script, so the navigation below is the only one there is.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

SCREENS = Path(__file__).resolve().parent / "screens"


def pages() -> list:
    """The dashboard's pages, in the navigation's order (``st.Page`` objects)."""
    return [
        st.Page(
            SCREENS / "overview.py", title="Overview", icon=":material/leaderboard:", default=True
        ),
        st.Page(SCREENS / "explore.py", title="Explore faces", icon=":material/face:"),
        st.Page(SCREENS / "calibration.py", title="Calibration", icon=":material/straighten:"),
        st.Page(SCREENS / "uncertainty.py", title="Uncertainty", icon=":material/blur_on:"),
        st.Page(SCREENS / "annotators.py", title="Annotators", icon=":material/groups:"),
        st.Page(SCREENS / "photo.py", title="Your photo", icon=":material/photo_camera:"),
        st.Page(SCREENS / "video.py", title="Your video", icon=":material/videocam:"),
        st.Page(SCREENS / "annotate.py", title="Annotate", icon=":material/how_to_vote:"),
    ]
