"""The Annotators page under streamlit.testing's AppTest, on the tiny bundle and a small folder
of synthetic faces with annotations.csv: the ranking with the models among the people, each
one's Dawid–Skene matrix, the faces where one stands alone, the sidebar's reference; and on
FER+, which ships no names, the note saying how to bring them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.crowds import PEOPLE, needs_crowd_kit, write_annotated_folder
from streamlit.testing.v1 import AppTest

from bnnfer.evaluation import annotators
from bnnfer.inference import computations
from bnnfer.training.bundle import read_registry

ROOT = Path(__file__).resolve().parents[2]
ROW_COUNT = len(read_registry())


@pytest.fixture
def annotated_env(app_env, monkeypatch, tmp_path):
    folder = write_annotated_folder(tmp_path / "annotated")
    monkeypatch.setenv("BNNFER_DATA", str(folder))
    return folder


def _open(page: str | None = None, **state) -> AppTest:
    """A session opened on ``page`` (the Overview for None), with these widget values, once the
    predictions a first session started computing are done. AppTest runs the sidebar on a
    session's first run and drops its choices after the second, so every sidebar choice opens
    a session, and a page's widget can be changed once. The Annotators page's tables, in order
    (AppTest has no keys for them): the annotators, the detail face's methods, who answered
    what on that face."""
    for opened in (False, True):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        for key, value in state.items():
            at.session_state[key] = value
        if opened and page is not None:
            at.switch_page(f"bnnfer_dashboard/screens/{page}.py")
        at.run()
        for computation in computations.running():
            computation.wait(120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_ranks_the_annotators_with_the_models_among_them(annotated_env):
    at = _open("annotators")
    assert any("annotations.csv`, 7 annotators" in c.value for c in at.sidebar.caption)
    table = at.dataframe[0].value
    assert len(table) == len(PEOPLE) + ROW_COUNT
    assert set(table.loc[table["kind"] == "person", "annotator"]) == set(PEOPLE)
    assert table["agreement"].is_monotonic_decreasing
    (ranked,) = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    assert ranked["marker"]["symbol"].count("diamond") == ROW_COUNT  # the models among them
    assert at.get("download_button")
    # the faces where the chosen one stands alone: a grid, and one face's detail
    dissenting = table.index[table["dissents"] > 0]
    row = at.selectbox(key="annotators_dissent").value
    assert row in dissenting
    faces = min(24, int(table.loc[row, "dissents"]))
    assert len(at.get("image")) == faces + 1  # the grid and the detail face
    votes = at.dataframe[2].value
    assert set(votes["annotator"]) <= set(PEOPLE) and len(votes) == 5
    assert at.dataframe[1].value.shape[0] == ROW_COUNT


@needs_crowd_kit
def test_each_ones_dawid_skene_matrix_and_the_reference_choice(annotated_env):
    at = _open("annotators")
    assert at.sidebar.radio(key="reference").value == "votes"
    table = at.dataframe[0].value
    assert "ds_accuracy" in table.columns
    assert "annotators_matrix_chart" in [chart.key for chart in at.get("plotly_chart")]
    last = len(table) - 1
    at.selectbox(key="annotators_matrix").set_value(last).run()
    assert not at.exception
    assert f"Accuracy {table.loc[last, 'ds_accuracy']:.1%}" in " ".join(c.value for c in at.caption)
    # the sidebar's reference: the Overview's JSD read against the posterior instead
    voted = _open().dataframe[0].value
    fitted = _open(reference="dawid-skene").dataframe[0].value
    assert list(voted["Accuracy"]) == list(fitted["Accuracy"])
    assert list(voted["JSD to votes"]) != list(fitted["JSD to votes"])


def test_without_crowd_kit_the_page_says_how_to_add_it(annotated_env, monkeypatch):
    monkeypatch.setattr(annotators, "crowd_kit_available", lambda: False)
    at = _open("annotators")
    assert at.sidebar.radio(key="reference").disabled
    assert "ds_accuracy" not in at.dataframe[0].value.columns
    assert any(annotators.CROWD_KIT_HINT in i.value for i in at.info)


def test_on_ferplus_the_page_says_how_to_bring_names(app_env):
    at = _open("annotators")
    (note,) = [i.value for i in at.info]
    assert "FER+" in note and "no annotator identities" in note and "annotations.csv" in note
    assert not at.get("plotly_chart")
