"""The dashboard under streamlit.testing's AppTest, on a tiny bundle and a synthetic FER+ folder:
every page renders its elements (table rows, charts, grid sizes after filters), the app opens
without data, and the photo page works on a real face photo."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from helpers.appsessions import builtin_evaluation
from PIL import Image
from skimage import data as skimage_data
from streamlit.testing.v1 import AppTest

from bnnfer.inference import computations
from bnnfer.training.bundle import read_registry
from bnnfer_dashboard import photos

ROOT = Path(__file__).resolve().parents[2]
ROW_COUNT = len(read_registry())  # every row of the bundled models


def _new_session() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def _wait_for_computations() -> None:
    for computation in computations.running():
        computation.wait(120)


def _settled(**state) -> AppTest:
    """A session opened (with these widget values) once the predictions a first one started
    computing are done. AppTest skips the sidebar on a session's reruns, so every check of a
    sidebar choice opens a session with it set."""
    first = _new_session()
    for key, value in state.items():
        first.session_state[key] = value
    first.run()
    _wait_for_computations()
    second = _new_session()
    for key, value in state.items():
        second.session_state[key] = value
    return second.run()


def _app(page: str | None = None) -> AppTest:
    at = _settled()
    if page is not None:
        at.switch_page(f"bnnfer_dashboard/screens/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_overview_shows_one_row_per_method_and_the_claims(app_env):
    at = _app()
    table = at.dataframe[0].value
    assert len(table) == ROW_COUNT
    assert {"method", "Accuracy", "JSD to votes", "Human ECE"} <= set(table.columns)
    assert "Classical + temperature" in set(table["method"])
    paired = dict(zip(table["method"], table["JSD minus classical (paired)"], strict=True))
    assert "200 resamples" in " ".join(c.value for c in at.caption)  # bootstrapped live
    assert paired["Classical"] == "" and paired["MC-Dropout"].count("[") == 1
    text = " ".join(m.value for m in at.markdown)
    assert "closer to the human votes" in text and "single label" in text
    # the sidebar: split, methods, S and the device
    assert at.sidebar.selectbox(key="split").value == "valid"
    assert len(at.sidebar.multiselect(key="methods").value) == ROW_COUNT
    assert any("Device: CPU" in c.value for c in at.sidebar.caption)


def _use_an_evaluation(app_env, monkeypatch, tmp_path) -> None:
    """bnnfer evaluate's files for the app's models, split and S = 30 (7 resamples, to tell its
    intervals from the live 200), where the app looks for them."""
    from bnnfer.cli import main

    root, models, _ = app_env
    out = tmp_path / "evaluation"
    argv = [
        "evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
        "--samples", "30", "--n-boot", "7", "--out", str(out),
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    monkeypatch.setenv("BNNFER_EVALUATION", str(out))


def test_overview_reads_a_matching_evaluation(app_env, monkeypatch, tmp_path):
    # with bnnfer evaluate's files for these models, split and S, the overview shows its
    # predictions and its intervals
    _use_an_evaluation(app_env, monkeypatch, tmp_path)
    at = _app()
    caption = " ".join(c.value for c in at.caption)
    assert "7 resamples" in caption and "Predictions: evaluate file" in caption
    assert len(at.dataframe[0].value) == ROW_COUNT


def test_head_only_sampling_leaves_the_evaluation_for_live_predictions(
    app_env, monkeypatch, tmp_path
):
    # the evaluation sampled every block: with "head only" the overview must not show it
    _use_an_evaluation(app_env, monkeypatch, tmp_path)
    at = _app()
    assert at.sidebar.selectbox(key="placement:valid").value == "every block"
    at = _settled(**{"placement:valid": "head only"})
    assert not at.exception, [e.value for e in at.exception]
    caption = " ".join(c.value for c in at.caption)
    assert "200 resamples" in caption and "evaluate file" not in caption
    assert len(at.dataframe[0].value) == ROW_COUNT


def test_sidebar_method_choice_changes_the_table(app_env):
    at = _app()
    at.sidebar.multiselect(key="methods").set_value(["classical", "mc_dropout"]).run()
    assert list(at.dataframe[0].value["method"]) == ["Classical", "MC-Dropout"]


def test_explore_grid_filters_and_detail(app_env):
    _, _, splits = app_env
    at = _app("explore")
    faces = len(splits["valid"])  # 21 after the drops
    assert any(f"**{faces} faces** match" in m.value for m in at.markdown)
    assert len(at.get("image")) == faces + 1  # the grid (one page) and the detail face
    human = splits["valid"].labels
    emotion = "neutral" if (human == 0).sum() else "happiness"
    expected = int((human == (0 if emotion == "neutral" else 1)).sum())
    at.multiselect(key="explore_human").set_value([emotion]).run()
    assert any(f"**{expected} faces** match" in m.value for m in at.markdown)
    assert len(at.get("image")) == expected + 1
    # the detail: the distribution chart and the uncertainty table, one row per method
    assert len(_charts(at)) == 1
    detail = at.dataframe[0].value
    assert len(detail) == ROW_COUNT and "epistemic (mutual information)" in detail.columns
    # a preset and an empty result
    at.selectbox(key="explore_preset").set_value("most ambiguous to people").run()
    assert not at.exception
    at.slider(key="explore_agree").set_value((0.0, 0.01)).run()
    assert any("**0 faces** match" in m.value for m in at.markdown)
    assert any("No face matches" in i.value for i in at.info)


def test_calibration_diagrams_and_ece_table(app_env):
    at = _app("calibration")
    assert len(_charts(at)) == 2
    ece = at.dataframe[0].value
    assert len(ece) == ROW_COUNT and {"ECE", "adaptive ECE", "human ECE"} <= set(ece.columns)
    at.radio(key="calib_strategy").set_value("mass").run()
    at.slider(key="calib_bins").set_value(4).run()
    assert not at.exception and len(_charts(at)) == 2
    options = at.selectbox(key="calib_bin").options
    assert 1 <= len(options) <= 4


def test_uncertainty_page_charts(app_env):
    at = _app("uncertainty")
    # histogram, scatter, confusion matrix, rejection curve
    assert len(_charts(at)) == 4
    assert "Spearman rho" in _charts(at)[1].proto.spec
    at.radio(key="unc_score").set_value("mutual information (epistemic)").run()
    assert not at.exception and len(_charts(at)) == 4


def test_without_data_every_page_shows_the_builtin_evaluation(app_env, monkeypatch, tmp_path):
    # the shipped evaluation's form (bnnfer evaluate --compact), made for the tiny bundle
    builtin_evaluation(app_env, monkeypatch, tmp_path)
    splits = app_env[2]
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "nowhere"))
    at = _app()
    assert "built-in evaluation" in " ".join(i.value for i in at.sidebar.info)
    assert len(at.dataframe[0].value) == ROW_COUNT
    assert "7 resamples" in " ".join(c.value for c in at.caption)  # the evaluation's intervals
    charts = len(_charts(at))  # the forest plot
    for page in ("explore", "calibration", "uncertainty"):
        at.switch_page(f"bnnfer_dashboard/screens/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        charts += len(_charts(at))
        if page == "explore":  # every face listed, each with a placeholder and the note
            faces = len(splits["valid"])
            assert any(f"**{faces} faces** match" in m.value for m in at.markdown)
            assert len(at.get("image")) == faces + 1
            assert any("fer2013new.csv" in c.value for c in at.caption)
            csv = at.get("download_button")
            assert csv
    assert charts >= 4


def test_app_opens_without_any_data_and_says_where_it_looked(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "nowhere"))
    at = _app()
    warning = " ".join(w.value for w in at.warning)
    assert "nowhere" in warning and "fer2013new.csv" in warning and "FER2013Train" in warning
    at.switch_page("bnnfer_dashboard/screens/photo.py").run()
    assert not at.exception
    assert at.get("file_uploader")


def test_photo_page_boxes_a_face_and_shows_distributions(app_env):
    at = _app("photo")
    assert at.get("file_uploader") and at.get("camera_input")
    # one line on where the upload goes, and the model card's intended use beneath it
    assert any("not written to disk" in caption.value for caption in at.caption)
    (intended,) = [e for e in at.expander if e.label.startswith("Intended use")]
    assert "Not** for decisions about people" in intended.markdown[0].value
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, "JPEG")
    # AppTest cannot drive a file upload: call the page's cached analysis directly, then check
    # what the page would lay out for it.
    models = str(app_env[1])
    result = photos.analyse(
        buffer.getvalue(), 5, ("classical", "mc_dropout", "ensemble"), models, "all"
    )
    assert len(result.faces) == 1
    assert set(result.faces[0].methods) == {"classical", "mc_dropout", "ensemble"}
    assert result.faces[0].methods["mc_dropout"].samples.shape == (5, 8)


def test_a_folder_with_only_the_test_split_opens_on_it(app_env, monkeypatch, tmp_path):
    from helpers.fakeferplus import write_folder_layout

    write_folder_layout(tmp_path / "test-only", {"test": 16})
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "test-only"))
    at = _app()
    assert at.sidebar.selectbox(key="split").value == "test"
    assert len(at.dataframe[0].value) == ROW_COUNT


def test_two_sessions_wait_for_one_computation(app_env, monkeypatch):
    # slow batches, so the second session arrives while the first one's computation runs
    real_batches, started = computations.mc_batches, []

    def slow_batches(*args, **kwargs):
        for batch in real_batches(*args, **kwargs):
            time.sleep(0.3)
            yield batch

    real_start = computations.Computation.start

    def counted_start(self):
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(computations, "mc_batches", slow_batches)
    monkeypatch.setattr(computations.Computation, "start", counted_start)
    first, second = _new_session().run(), _new_session().run()
    for at in (first, second):
        assert not at.exception, [e.value for e in at.exception]
        assert any("Running the models" in c.value for c in at.caption)
    assert len(started) == 1
    started[0].wait(120)
    # one batch per row (the split is smaller than a batch), each computed once
    assert started[0].state == "done" and started[0].batches_computed == ROW_COUNT
    third = _new_session().run()
    assert len(third.dataframe[0].value) == ROW_COUNT and len(started) == 1


def test_an_uncached_split_starts_with_the_device_default_placement(app_env):
    from bnnfer.inference.mc import select_device

    at = _new_session().run()
    expected = "head only" if select_device("auto").type == "cpu" else "every block"
    assert at.sidebar.selectbox(key="placement:valid").value == expected
    _wait_for_computations()


def test_your_faces_with_one_vote_each_show_the_note_not_a_number(app_env, monkeypatch, tmp_path):
    # a votes.csv folder (bnnfer.data.crowd), one annotator per face, with bnnfer evaluate's files
    import numpy as np

    from bnnfer.cli import main
    from bnnfer.constants import EMOTIONS
    from bnnfer.data.votes import SEVERAL_ANNOTATORS_NOTE

    _, models, _ = app_env
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = ["name," + ",".join(EMOTIONS)]
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (48, 48)).astype(np.uint8)).save(folder / f"{i}.png")
        lines.append(f"{i}.png," + ",".join("1" if c == i % 3 else "0" for c in range(8)))
    Image.new("RGB", (120, 120), (128, 128, 128)).save(folder / "blank.jpg")  # no face in it
    lines.append("blank.jpg,1,0,0,0,0,0,0,0")
    (folder / "votes.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "evaluation"
    argv = ["evaluate", "--models", str(models), "--data", str(folder), "--samples", "30",
            "--n-boot", "7", "--out", str(out)]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    monkeypatch.setenv("BNNFER_DATA", str(folder))
    monkeypatch.setenv("BNNFER_EVALUATION", str(out))
    at = _app()
    assert at.sidebar.selectbox(key="split").value == "all"
    assert any("your faces** (12" in c.value for c in at.sidebar.caption)
    assert any("left out: blank.jpg" in w.value for w in at.sidebar.warning)
    assert "7 resamples" in " ".join(c.value for c in at.caption)  # metrics.json's nulls
    table = at.dataframe[0].value
    assert set(table["Human ECE"]) == set(table["JSD to votes"]) == {SEVERAL_ANNOTATORS_NOTE}
    assert all("[" in cell for cell in table["Accuracy"])
    assert any(SEVERAL_ANNOTATORS_NOTE in i.value for i in at.info)  # instead of the claims
    at.switch_page("bnnfer_dashboard/screens/calibration.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(_charts(at)) == 1 and any(SEVERAL_ANNOTATORS_NOTE in i.value for i in at.info)
    assert set(at.dataframe[0].value["human ECE"]) == {SEVERAL_ANNOTATORS_NOTE}
    at = _app("uncertainty")  # a new session: a third run here would skip the sidebar's split
    assert any(SEVERAL_ANNOTATORS_NOTE in i.value for i in at.info)  # no Spearman of zeros
    figures = [json.loads(c.proto.spec) for c in _charts(at)]
    assert not any("Spearman" in f["layout"]["title"]["text"] for f in figures)


def test_overview_shows_claim_1_against_the_rate_when_a_sweep_ships(app_env, tmp_path, monkeypatch):
    def row(key, method, rate, value):
        interval = [value, value - 0.001, value + 0.001]
        return {"key": key, "method": method, "rate": rate, "jsd_minus_classical": interval}

    result = {
        "split": "valid", "faces": 24, "faces_majority": 20, "samples": 30, "seed": 0,
        "n_boot": 1000,
        "rows": [
            row("ensemble", "ensemble", None, -0.004),
            row("mc_dropout", "mc_dropout", 0.1, 0.0),
            row("mc_dropout_p0.5", "mc_dropout", 0.5, -0.003),
        ],
    }  # fmt: skip  # one field a line
    builtin = tmp_path / "builtin"
    builtin.mkdir()
    (builtin / "rate-sweep.json").write_text(json.dumps(result))
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(builtin))
    at = _app()
    assert "Claim 1 against the dropout rate" in [h.value for h in at.subheader]
    figures = [json.loads(c.proto.spec) for c in _charts(at)]
    (sweep_figure,) = [f for f in figures if "by block rate" in f["layout"]["title"]["text"]]
    (line,) = sweep_figure["data"]
    assert line["x"] == [0.1, 0.5] and line["name"] == "mc_dropout"
    assert "p = 0.5: closer (-0.0030" in at.code[0].value
    # no digest of the loaded bundle: the sweep is read as an earlier bundle's
    earlier = "scored with an earlier bundle than the one loaded"
    assert any(earlier in c.value for c in at.caption)
    from bnnfer.evaluation.predictions import models_digest

    _, models, _ = app_env
    result["models_digest"] = models_digest(models)
    (builtin / "rate-sweep.json").write_text(json.dumps(result))
    assert not any(earlier in c.value for c in _app().caption)
