"""The "Your photo" page's analysis: faces found in an uploaded photo and every chosen method's
distribution for each, cached per photo and choice, computed in the process's queue."""

from __future__ import annotations

import streamlit as st

from bnnfer.media.predict import PhotoPrediction, predict_photo
from bnnfer_dashboard import serving, sources


@st.cache_data(show_spinner="Finding faces and running the models...", max_entries=32)
def analyse(
    data: bytes, samples: int, keys: tuple[str, ...], models_folder: str, placement: str
) -> PhotoPrediction:
    """`bnnfer.media.predict.predict_photo` of the photo's bytes ``data`` by the methods ``keys`` of
    the bundle in ``models_folder`` (MC rows sampled at ``placement``), ``samples`` draws each;
    raises `bnnfer.media.faces.PhotoError` for a photo that cannot be read."""
    methods, _, _ = sources.load_models(models_folder, placement)
    with serving.in_line("photo"):  # a turn in the process's queue, its place shown meanwhile
        return predict_photo({k: methods[k] for k in keys}, data, samples=samples)
