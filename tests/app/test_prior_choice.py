"""The sidebar's choice of the class prior (dashboard.priorchoice) under AppTest on the tiny
bundle: the built-in evaluation read under another prior, the adapted estimate drawn, and your
own faces' metrics under each prior side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from bnnfer import computations
from bnnfer.cli import main
from bnnfer.constants import EMOTIONS

ROOT = Path(__file__).resolve().parents[2]


def _settled(**state) -> AppTest:
    """The Overview of a session opened with these widget values once the predictions are
    computed (AppTest skips the sidebar on reruns: each choice opens a session)."""
    for _ in range(2):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        for computation in computations.running():
            computation.wait(120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _builtin(app_env, monkeypatch, tmp_path) -> None:
    """The tiny bundle's evaluation of Valid in the shipped form, as the built-in one."""
    root, models, _ = app_env
    builtin = tmp_path / "builtin"
    argv = [
        "evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
        "--samples", "30", "--n-boot", "7", "--out", str(builtin), "--compact",
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(builtin))


def _nll(at: AppTest) -> dict[str, str]:
    table = at.dataframe[0].value
    return dict(zip(table["method"], table["NLL"], strict=True))


def test_the_prior_changes_the_builtin_evaluation(app_env, monkeypatch, tmp_path):
    _builtin(app_env, monkeypatch, tmp_path)
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "nowhere"))
    trained = _settled()
    assert "7 resamples" in " ".join(c.value for c in trained.caption)  # the evaluation's
    uniform = _settled(prior="uniform")
    captions = " ".join(c.value for c in uniform.caption)
    assert "200 resamples" in captions and "read under the uniform prior" in captions
    assert _nll(uniform) != _nll(trained)
    adapted = _settled(prior="adapted")
    assert [e.label for e in adapted.sidebar.expander] == ["The estimated class prior"]
    assert "faces: below 300" in " ".join(c.value for c in adapted.sidebar.caption)
    wrong = _settled(prior="explicit", prior_frequencies="0.5,0.5")
    assert "must hold 8 frequencies" in " ".join(e.value for e in wrong.sidebar.error)
    assert _nll(wrong)["Classical"].split(" [")[0] == _nll(trained)["Classical"].split(" [")[0]


def test_your_faces_under_each_prior_side_by_side(app_env, monkeypatch, tmp_path):
    _builtin(app_env, monkeypatch, tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = ["name," + ",".join(EMOTIONS)]
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (48, 48)).astype(np.uint8)).save(folder / f"{i}.png")
        lines.append(f"{i}.png," + ",".join(map(str, rng.multinomial(4, np.full(8, 1 / 8)))))
    (folder / "votes.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("BNNFER_DATA", str(folder))
    at = _settled()
    assert "Your faces under each class prior" in [s.value for s in at.subheader]
    table = at.dataframe[1].value  # after the methods table
    assert {"Accuracy", "JSD to votes", "Human ECE"} <= set(table.columns)
    assert set(table["prior"]) == {"fer+", "uniform", "adapted"}
    nll = table.pivot(index="method", columns="prior", values="NLL")
    assert (nll["fer+"] != nll["uniform"]).any()
