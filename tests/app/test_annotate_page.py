"""The Annotate page under AppTest on the tiny bundle and a synthetic FER+ folder: votes go to
the database one click at a time (the revealed crowd after each), undo takes the last one back,
and the scoreboard places you and the models among the crowd; the same from a folder of your
own faces (with its annotations.csv as the crowd) and from the faces of a photo."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image
from skimage import data as skimage_data
from streamlit.testing.v1 import AppTest

from bnnfer.annotations import datasets
from bnnfer.annotations.database import VoteStore
from bnnfer.inference import computations
from bnnfer_dashboard import annotate

ROOT = Path(__file__).resolve().parents[2]


def _annotate(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("bnnfer_dashboard/screens/annotate.py")
    at.run()
    for computation in computations.running():
        computation.wait(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_votes_are_stored_undone_and_scored(app_env):
    at = _annotate(annotator="ada")
    assert at.button(key="annotate_vote_happiness") is not None
    assert not any("crowd (votes)" in str(d.value.columns) for d in at.dataframe)  # blind
    for answer in ("happiness", "sadness", "NF", "neutral"):
        at.button(key=f"annotate_vote_{answer}").click().run()
        assert not at.exception, [e.value for e in at.exception]
    with VoteStore.open() as store:
        votes = store.votes("ferplus:valid", annotator="ada")
    assert list(votes.emotion) == ["happiness", "sadness", "NF", "neutral"]
    assert set(votes.strategy) == {"random"} and votes.blind.all()
    assert any(s.value == "Your last vote" for s in at.subheader)
    labels = [m.label for m in at.metric]
    assert "You are worth k annotators" in labels
    at.button(key="annotate_undo_button").click().run()
    with VoteStore.open() as store:
        assert len(store.votes("ferplus:valid", annotator="ada")) == 3
        assert list(store.history().action)[-1] == "withdraw"


def test_without_a_name_or_faces_the_page_says_what_to_do(app_env, monkeypatch, tmp_path):
    at = _annotate()
    assert any("Type your name" in i.value for i in at.info)
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "none"))
    at = _annotate(annotator="ada")
    assert any("placeholders" in i.value for i in at.info)
    assert at.radio(key="annotate_source").options[1] == "your own folder of images"


def _grey_faces(folder: Path, count: int) -> list[str]:
    """``count`` synthetic 48x48 grayscale PNGs (taken as faces as they are: no detection)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"face{i:02d}.png" for i in range(count)]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / name)
    return names


def test_a_folder_of_faces_is_voted_on_with_its_own_crowd(app_env, tmp_path):
    folder = tmp_path / "mine"
    names = _grey_faces(folder, 6)
    rows = [f"{n},{who},{'happiness' if i % 2 else 'fear'}" for i, n in enumerate(names)
            for who in ("cy", "dee")]  # fmt: skip
    (folder / "annotations.csv").write_text("name,annotator,emotion\n" + "\n".join(rows) + "\n")
    at = _annotate(
        annotator="ada", annotate_source=annotate.SOURCES[1], annotate_folder=str(folder)
    )
    assert any("0 of 6 faces voted by ada" in c.value for c in at.caption)
    for _ in range(3):
        at.button(key="annotate_vote_happiness").click().run()
        assert not at.exception, [e.value for e in at.exception]
    with VoteStore.open() as store:
        votes = store.votes(datasets.folder_dataset(folder), annotator="ada")
    assert len(votes) == 3 and set(votes.face) <= set(names)
    revealed = [d.value for d in at.dataframe if "crowd (votes)" in d.value.columns]
    assert revealed and revealed[0]["crowd (votes)"].sum() == 2  # cy's and dee's, after voting
    labels = [m.label for m in at.metric]
    assert "Agreement with a held-out annotator" in labels  # the folder's two votes a face


def test_faces_found_in_a_photo_are_voted_on_by_their_hash(app_env, monkeypatch):
    # AppTest cannot drive a file upload: the page's photo source is handed the upload instead
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, "JPEG")
    upload = SimpleNamespace(name="astronaut.jpg", getvalue=buffer.getvalue)
    real = annotate.photo_faces
    monkeypatch.setattr(annotate, "photo_faces", lambda uploads: real(uploads or [upload]))
    at = _annotate(annotator="ada", annotate_source=annotate.SOURCES[2])
    assert any("0 of 1 faces voted by ada in `photos`" in c.value for c in at.caption)
    at.button(key="annotate_vote_surprise").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with VoteStore.open() as store:
        votes = store.votes(datasets.PHOTOS)
    assert list(votes.emotion) == ["surprise"]
    assert re.fullmatch(r"photo-[0-9a-f]{16}\.png", votes.face[0])  # a hash, never the pixels
