"""End to end in Chromium: vote on 10 faces of the Annotate page with the keyboard, restart the
server, and find the 10 votes (in the database and on the page) and the scoreboard."""

from __future__ import annotations

import os
import re

import pytest
from test_browser import _chromium, _launch, _settle, _streamlit

from bnnfer.annotations.database import VoteStore

playwright = pytest.importorskip("playwright.sync_api")
expect, sync_playwright = playwright.expect, playwright.sync_playwright

pytestmark = pytest.mark.e2e
VOTES = 10


def _open_annotate(page, url: str) -> None:
    page.goto(url)  # a fresh server's first request goes through app.py
    _settle(page)
    page.goto(url + "/annotate")
    _settle(page)
    name = page.get_by_label("Your name (as an annotator)")
    name.fill("ada")
    name.press("Enter")
    _settle(page)
    page.evaluate("document.activeElement.blur()")  # keys go to the page, not the name field


def _press_until_counted(page, key: str, done: int) -> None:
    """Press ``key`` on the page until the page counts ``done`` votes. A key pressed while the
    page is still wiring its shortcuts (right after it loads) can go unheard: pressed again
    only while the count has not moved, so a vote is never cast twice."""
    counted = page.get_by_text(re.compile(rf"^{done} of \d+ faces voted"))
    before = page.get_by_text(re.compile(rf"^{done - 1} of \d+ faces voted"))
    for _ in range(5):
        page.locator("body").press(key)
        try:
            expect(counted).to_be_visible(timeout=15_000)
        except AssertionError:
            expect(before).to_be_visible()  # not counted yet: the key went unheard
            continue
        _settle(page)
        return
    raise AssertionError(f"the key {key} did not cast vote {done}")


def test_ten_votes_by_keyboard_survive_a_restart(tiny_bundle, tmp_path):
    chromium = _chromium()
    root, models, _ = tiny_bundle
    database = tmp_path / "votes.sqlite"
    env = dict(os.environ, BNNFER_DATA=str(root), BNNFER_MODELS=str(models))
    env["BNNFER_EVALUATION"] = str(tmp_path / "no-evaluation")
    env["BNNFER_BUILTIN_EVALUATION"] = str(tmp_path / "no-builtin-evaluation")
    env["BNNFER_ANNOTATIONS"] = str(database)
    keys = [str(1 + i % 8) for i in range(VOTES)]
    expect.set_options(timeout=180_000)  # the first page load runs the models
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(180_000)
        with _streamlit(env, tmp_path / "first.log") as url:
            _open_annotate(page, url)
            for done, key in enumerate(keys, start=1):
                _press_until_counted(page, key, done)
        with VoteStore.open(database) as store:
            votes = store.votes("ferplus:valid", annotator="ada")
        assert len(votes) == VOTES and votes.blind.all()
        assert votes.seconds.notna().all()
        with _streamlit(env, tmp_path / "second.log") as url:
            _open_annotate(page, url)
            expect(page.get_by_text(re.compile(rf"^{VOTES} of \d+ faces voted"))).to_be_visible()
            expect(page.get_by_text("You are worth k annotators")).to_be_visible()
            expect(
                page.get_by_text("Agreement with a held-out annotator", exact=True)
            ).to_be_visible()
        browser.close()
