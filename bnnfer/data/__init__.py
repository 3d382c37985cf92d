"""Faces and their votes: FER+ read from disk (`ferplus`), one split in memory (`split`), human
statistics from the votes (`votes`), the decoded-array cache (`cache`), your own annotated faces
(`crowd`), training targets (`targets`) and image transforms (`transforms`).

The names of the first five are re-exported here, so that ``from bnnfer import data`` serves
``data.load_ferplus`` and the rest; modules inside bnnfer import from the defining module.
"""

from .cache import default_cache_dir
from .crowd import no_face_text
from .ferplus import (
    KAGGLE_PIXELS_CSV,
    KAGGLE_VOTES_CSV,
    available_splits,
    describe,
    detect_layout,
    load_ferplus,
    resolve_data_dir,
    summary_text,
)
from .split import Annotations, FerPlusError, FerPlusSplit
from .votes import (
    SEVERAL_ANNOTATORS_NOTE,
    barsoum_majority,
    filter_emotion_faces,
    human_statistics,
    plurality_label,
    single_annotator,
    vote_distribution,
    vote_entropy,
)

__all__ = [
    "KAGGLE_PIXELS_CSV",
    "KAGGLE_VOTES_CSV",
    "SEVERAL_ANNOTATORS_NOTE",
    "Annotations",
    "FerPlusError",
    "FerPlusSplit",
    "available_splits",
    "barsoum_majority",
    "default_cache_dir",
    "describe",
    "detect_layout",
    "filter_emotion_faces",
    "human_statistics",
    "load_ferplus",
    "no_face_text",
    "plurality_label",
    "resolve_data_dir",
    "single_annotator",
    "summary_text",
    "vote_distribution",
    "vote_entropy",
]
