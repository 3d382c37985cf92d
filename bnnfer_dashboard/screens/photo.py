"""Your photo: upload photos (or take one); faces are found, boxed and numbered, and every
method's distribution is shown per face with its spread and a reading in plain words."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnnfer.media.faces import (
    MAX_FACES,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_UPLOAD,
    PhotoError,
    check_photo_count,
)
from bnnfer_dashboard import charts, images, modelcard, photos, priorchoice, sidebar, sources

st.title("Your photo")
st.markdown(
    "Upload one or more photos (JPEG, PNG, WebP) or take one with your camera. Faces are found "
    f"with MTCNN (up to {MAX_FACES} per photo, the largest first), cut to 48x48 grayscale like "
    f"FER+ faces, and shown to every method. Up to {MAX_PHOTOS_PER_UPLOAD} photos per upload."
)
modelcard.privacy_note("photos")


loaded = sidebar.models()
if loaded is not None:
    methods, labels, _ = loaded
    chosen = sidebar.settings()
    keys = [k for k in (chosen["methods"] or list(methods)) if k in methods]
    uploads = st.file_uploader(
        "Photos",
        type=["jpg", "jpeg", "png", "webp"],
        accept_multiple_files=True,
        key="photo_upload",
        help=f"Up to {MAX_PHOTO_BYTES // 2**20} MB each.",
    )
    with st.expander("Or take a photo with your camera"):
        camera = st.camera_input("Camera", key="photo_camera")
    received = [(u.name, u.getvalue()) for u in uploads or []]
    if camera is not None:
        received.append(("camera", camera.getvalue()))
    if not keys:
        st.info("Choose at least one method in the sidebar.")
    try:
        check_photo_count(len(received))
    except PhotoError as error:
        st.error(str(error))
        received = []
    analysed, failed = [], []  # every photo first: an adapted prior is estimated over all
    for name, data in received:
        try:
            result = photos.analyse(
                data,
                int(chosen["samples"]),
                tuple(keys),
                str(sources.models_dir()),
                chosen["placement"],
            )
        except PhotoError as error:
            failed.append(f"{name}: {error}")
            continue
        analysed.append((name, result))
    for problem in failed:
        st.error(problem)
    read = priorchoice.reread_photos(
        [result for _, result in analysed],
        labels,
        sources.models_dir(),
        sources.builtin_evaluation_dir(),
    )
    for (name, _), result in zip(analysed, read, strict=True):
        st.subheader(name)
        faces = result.faces
        note = f"{len(faces)} face(s) found"
        if result.detection.dropped:
            note += f"; {result.detection.dropped} smaller face(s) not analysed"
        st.image(
            images.numbered_boxes(
                result.detection.image, {n: f.box for n, f in enumerate(result.faces, start=1)}
            ),
            caption=note,
            width=min(700, result.detection.image.width),
        )
        if not faces:
            st.warning(
                f"{name}: no face found. Try a photo where the face is frontal, well lit and at "
                "least about 40 pixels across."
            )
        for number, face in enumerate(faces, start=1):
            left, right = st.columns([1, 3])
            left.image(images.enlarge(face.crop, 3), caption=f"face {number} as the models see it")
            left.markdown(f"**Face {number}:** {face.reading}")
            samples = {k: p.samples for k, p in face.methods.items()}
            right.plotly_chart(
                charts.distribution_chart(None, samples, labels, f"{name}, face {number}"),
                key=f"photo_chart_{name}_{number}",
            )
            table = pd.DataFrame(
                {
                    "method": [labels.get(k, k) for k in face.methods],
                    "prediction": [p.top for p in face.methods.values()],
                    "confidence": [float(p.mean.max()) for p in face.methods.values()],
                    "total": [p.scores["predictive_entropy"] for p in face.methods.values()],
                    "aleatoric": [p.scores["expected_entropy"] for p in face.methods.values()],
                    "epistemic": [p.scores["mutual_information"] for p in face.methods.values()],
                }
            )
            st.dataframe(table.round(3), hide_index=True, key=f"photo_table_{name}_{number}")
