"""The model card on the upload pages: where an upload goes, and the bundle's intended use."""

from __future__ import annotations

import streamlit as st

from bnnfer.training import bundle
from bnnfer_dashboard import sources


def privacy_note(what: str) -> None:
    """One line saying where an upload of ``what`` (photos, a video) goes, and the model card's
    intended use beneath it, read from the bundle's README (the shipped one if it has none)."""
    st.caption(
        f"Your {what}: kept in memory on the machine running this dashboard while analysed; "
        "not written to disk, not sent anywhere, gone when you leave."
    )
    with st.expander("Intended use: research and teaching, not decisions about people"):
        st.markdown(intended_use())


def intended_use() -> str:
    """The model card's "Intended use" section (markdown, without its heading)."""
    for card in (sources.models_dir() / "README.md", bundle.DEFAULT_BUNDLE_DIR / "README.md"):
        if card.is_file():
            section = card.read_text(encoding="utf-8").split("\n## Intended use", 1)
            if len(section) == 2:
                body = section[1].split("\n", 1)[1]
                return body.split("\n## ", 1)[0].strip() + f"\n\n(From `{card}`.)"
    return "Research and teaching only; not for decisions about people."
