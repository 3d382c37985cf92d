"""The Annotate page under AppTest on the tiny bundle and a synthetic FER+ folder: votes go to
the database one click at a time (the revealed crowd after each), undo takes the last one back,
and the scoreboard places you and the models among the crowd."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from bnnfer import computations
from bnnfer.annotations.database import VoteStore

ROOT = Path(__file__).resolve().parents[2]


def _annotate(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/annotate.py")
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
