"""Fixed facts of FER+ and of the product: emotion names and order, image size, method names.

Everything that more than one module (or the dashboard) needs to agree on lives here, so
that e.g. the class order of a probability vector means the same thing everywhere.
"""

from __future__ import annotations

# The 8 FER+ emotions in the order of the FER+ label files (Barsoum et al., 2016).
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)
NUM_CLASSES: int = len(EMOTIONS)

# The 10 vote columns of a FER+ label row: the emotions, then the two "no emotion" columns.
VOTE_COLUMNS: tuple[str, ...] = (*EMOTIONS, "unknown", "NF")
NUM_VOTE_COLUMNS: int = len(VOTE_COLUMNS)

IMAGE_SIZE: int = 48  # FER2013 faces are 48x48 grayscale

# Split names used in bnnfer, with the FERPlus folder and the FER2013 "Usage" value of each.
SPLITS: tuple[str, ...] = ("train", "valid", "test")
SPLIT_FOLDERS: dict[str, str] = {
    "train": "FER2013Train",
    "valid": "FER2013Valid",
    "test": "FER2013Test",
}
SPLIT_USAGE: dict[str, str] = {
    "train": "Training",
    "valid": "PublicTest",
    "test": "PrivateTest",
}
# The one split of a folder of your own annotated faces (``votes.csv`` + images: bnnfer.data.crowd).
CROWD_SPLIT: str = "all"
CROWD_VOTES_CSV = "votes.csv"  # its vote counts, one row per face
CROWD_ANNOTATIONS_CSV = "annotations.csv"  # the same, one row per vote with who cast it

# The four inference methods, in the order tables and charts show them.
METHODS: tuple[str, ...] = ("classical", "mc_dropout", "mc_dropconnect", "ensemble")

# Which stochastic layers an MC row samples (bnnfer.models.networks.with_placement), each with
# the words the dashboard and the docs show for it.
PLACEMENT_LABELS: dict[str, str] = {
    "all": "every block",
    "last": "last block + head",
    "head": "head only",
}
PLACEMENTS: tuple[str, ...] = tuple(PLACEMENT_LABELS)

# One colour per method (and one for the human annotators), kept the same on every chart.
METHOD_COLORS: dict[str, str] = {
    "human": "#444444",
    "classical": "#1f77b4",
    "classical_ts": "#17becf",
    "classical_soft": "#9467bd",
    "mc_dropout": "#ff7f0e",
    "mc_dropconnect": "#2ca02c",
    "ensemble": "#d62728",
    "mc_dropout_soft": "#8c564b",
    "ensemble_soft": "#e377c2",
}
