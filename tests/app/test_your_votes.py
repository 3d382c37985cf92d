"""The sidebar's choice of whose votes the pages read (bnnfer_dashboard.yourvotes), under AppTest
on the tiny bundle: the crowd, the crowd and the database's votes, or those votes alone."""

from __future__ import annotations

import re
from pathlib import Path

from helpers.appsessions import settled
from streamlit.testing.v1 import AppTest

from bnnfer.annotations.database import Ballot, VoteStore

ROOT = Path(__file__).resolve().parents[2]


def _faces_and_jsd(at: AppTest) -> tuple[int, dict[str, str]]:
    heading = next(s.value for s in at.subheader if s.value.startswith("The methods on"))
    table = at.dataframe[0].value
    faces = int(re.search(r"\((\d+) faces\)", heading).group(1))
    return faces, dict(zip(table["method"], table["JSD to votes"], strict=True))


def test_the_choice_of_votes_changes_the_overview(app_env):
    _, _, splits = app_env
    names = [str(n) for n in splits["valid"].names]
    crowd_faces, crowd_jsd = _faces_and_jsd(settled())
    assert crowd_faces == len(names)
    at = settled(your_votes="yours")
    assert any("holds no vote on the faces of FER+ valid" in i.value for i in at.info)
    with VoteStore.open() as store:  # two annotators: contempt on every face, one more on two
        store.cast_many([Ballot("ferplus:valid", n, p, "contempt") for n in names for p in "ab"])
        store.cast_many([Ballot("ferplus:valid", n, "c", "fear") for n in names[:2]])
    at = settled(your_votes="crowd+yours")
    faces, jsd = _faces_and_jsd(at)
    assert faces == crowd_faces and jsd != crowd_jsd
    n = len(names)
    said = f"Your votes: {2 * n + 2} on {n} of these {n} faces, by 3 annotator(s)."
    assert said in [c.value for c in at.sidebar.caption]
    at = settled(your_votes="yours")
    assert _faces_and_jsd(at)[0] == len(names)
    with VoteStore.open() as store:
        for name in names[5:]:
            for person in "ab":
                store.withdraw("ferplus:valid", name, person)
    faces, _ = _faces_and_jsd(settled(your_votes="yours"))
    assert faces == 5
