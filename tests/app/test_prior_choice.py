"""The sidebar's choice of the class prior (bnnfer_dashboard.priorchoice) under AppTest on the tiny
bundle: the built-in evaluation read under another prior, the adapted estimate drawn, and your
own faces' metrics under each prior side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.appsessions import builtin_evaluation, settled
from PIL import Image
from streamlit.testing.v1 import AppTest

from bnnfer.constants import EMOTIONS

ROOT = Path(__file__).resolve().parents[2]


def _nll(at: AppTest) -> dict[str, str]:
    table = at.dataframe[0].value
    return dict(zip(table["method"], table["NLL"], strict=True))


def test_the_prior_changes_the_builtin_evaluation(app_env, monkeypatch, tmp_path):
    builtin_evaluation(app_env, monkeypatch, tmp_path)
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "nowhere"))
    trained = settled()
    assert "7 resamples" in " ".join(c.value for c in trained.caption)  # the evaluation's
    uniform = settled(prior="uniform")
    captions = " ".join(c.value for c in uniform.caption)
    assert "200 resamples" in captions and "read under the uniform prior" in captions
    assert _nll(uniform) != _nll(trained)
    adapted = settled(prior="adapted")
    assert [e.label for e in adapted.sidebar.expander] == ["The estimated class prior"]
    assert "faces: below 300" in " ".join(c.value for c in adapted.sidebar.caption)
    wrong = settled(prior="explicit", prior_frequencies="0.5,0.5")
    assert "must hold 8 frequencies" in " ".join(e.value for e in wrong.sidebar.error)
    assert _nll(wrong)["Classical"].split(" [")[0] == _nll(trained)["Classical"].split(" [")[0]


def test_your_faces_under_each_prior_side_by_side(app_env, monkeypatch, tmp_path):
    builtin_evaluation(app_env, monkeypatch, tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = ["name," + ",".join(EMOTIONS)]
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (48, 48)).astype(np.uint8)).save(folder / f"{i}.png")
        lines.append(f"{i}.png," + ",".join(map(str, rng.multinomial(4, np.full(8, 1 / 8)))))
    (folder / "votes.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("BNNFER_DATA", str(folder))
    at = settled()
    assert "Your faces under each class prior" in [s.value for s in at.subheader]
    table = at.dataframe[1].value  # after the methods table
    assert {"Accuracy", "JSD to votes", "Human ECE"} <= set(table.columns)
    assert set(table["prior"]) == {"fer+", "uniform", "adapted"}
    nll = table.pivot(index="method", columns="prior", values="NLL")
    assert (nll["fer+"] != nll["uniform"]).any()
