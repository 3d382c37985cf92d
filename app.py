"""bnnfer dashboard: the Streamlit entry point (page config, the shared sidebar, navigation).

Run with ``streamlit run app.py``. The pages in ``pages/`` lay out what ``bnnfer`` computes; no
page imports torch. Settings come from the sidebar: the FER+ folder (prefilled from
``BNNFER_DATA``), the split, the methods, and the number of MC samples S.
"""

from __future__ import annotations

import streamlit as st

from dashboard import shared

st.set_page_config(
    page_title="bnnfer: emotions with uncertainty",
    page_icon=":material/sentiment_satisfied:",
    layout="wide",
)

shared.entered()
shared.sidebar()

st.navigation(shared.pages()).run()
