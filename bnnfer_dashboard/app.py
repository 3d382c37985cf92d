"""bnnfer dashboard: the Streamlit entry point (page config, the shared sidebar, navigation).

``bnnfer dashboard`` runs this file as Streamlit's main script (Streamlit then reads
``.streamlit/config.toml`` beside it); in a checkout, ``streamlit run app.py`` runs the root
app.py, which calls `main`. The pages in ``screens/`` lay out what ``bnnfer`` computes; no page
imports torch. Settings come from the sidebar: the FER+ folder (prefilled from ``BNNFER_DATA``),
the split, the methods, and the number of MC samples S.
"""

from __future__ import annotations

import streamlit as st

from bnnfer_dashboard import navigation, sidebar


def main() -> None:
    """One run of the dashboard: page config, the sidebar, then the page the URL names."""
    st.set_page_config(
        page_title="bnnfer: emotions with uncertainty",
        page_icon=":material/sentiment_satisfied:",
        layout="wide",
    )
    sidebar.sidebar()
    st.navigation(navigation.pages()).run()


if __name__ == "__main__":  # Streamlit runs its main script as __main__
    main()
