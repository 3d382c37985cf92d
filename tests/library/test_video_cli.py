"""`bnnfer predict-video`: the CSV's columns in their documented order, the JSON beside it, and
a one-line error with exit status 1 for a file that is not a video."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from helpers import clips

from bnnfer import EMOTIONS
from bnnfer.cli import main


def test_predict_video_writes_the_csv_and_json(tmp_path, capsys):
    clip = tmp_path / "moving.mp4"
    clip.write_bytes(clips.moving_face(2.0, fps=10))
    out, document = tmp_path / "out.csv", tmp_path / "out.json"
    argv = [
        "predict-video", str(clip), "--csv", str(out), "--json", str(document), "--fps", "2",
        "--methods", "classical", "mc_dropout", "--samples", "4", "--placement", "head",
        "--quiet",
    ]  # fmt: skip  # options beside their values
    assert main(argv) == 0
    assert "4 frames sampled at 2/s, 1 track(s)" in capsys.readouterr().out
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "time_s", "track", "method", *EMOTIONS,
        "predictive_entropy", "mutual_information", "top_spread",
    ]  # fmt: skip  # the documented column order
    assert [r["method"] for r in rows[:2]] == ["classical", "mc_dropout"]
    assert rows[0]["mutual_information"] == "" and float(rows[1]["mutual_information"]) >= 0
    assert pd.read_csv(out)["time_s"].unique().tolist() == pytest.approx([0, 0.5, 1.0, 1.5])
    written = json.loads(document.read_text())
    assert written["tracks"][0]["frames"] == 4 and len(written["rows"]) == 8
    assert written["rows"][0]["mutual_information"] is None
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"nothing")
    assert main(["predict-video", str(broken), "--csv", str(out), "--quiet"]) == 1
    assert "not a video" in capsys.readouterr().err


@pytest.mark.parametrize("bf16", [True, False])
def test_predict_video_samples_the_fast_placement_by_default(tmp_path, monkeypatch, bf16):
    """Without --placement, a CPU samples the head only, with bf16 hardware or without, as the
    video page does (`fast_placement`); a GPU every block."""
    import torch

    import bnnfer.cli
    import bnnfer.inference.mc

    assert bnnfer.inference.mc.fast_placement(torch.device("cuda")) == "all"
    monkeypatch.setattr(bnnfer.inference.mc, "native_bf16", lambda device: bf16)
    monkeypatch.setattr(bnnfer.cli, "select_device", lambda preference: torch.device("cpu"))
    expected = "head"
    asked = []

    def load_bundle(folder, device, rows, placement=None):
        asked.append(placement)
        raise SystemExit(0)  # the placement is all this test needs

    monkeypatch.setattr(bnnfer.cli.bundle, "load_bundle", load_bundle)
    with pytest.raises(SystemExit):
        main(["predict-video", str(tmp_path / "any.mp4"), "--csv", str(tmp_path / "o.csv")])
    with pytest.raises(SystemExit):
        main(["predict-video", "x.mp4", "--csv", "o.csv", "--placement", "last"])
    assert asked == [expected, "last"]
