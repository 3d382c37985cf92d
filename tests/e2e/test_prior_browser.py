"""End to end in Chromium: the sidebar's class prior (bnnfer_dashboard.priorchoice) switched on the
built-in evaluation's Overview, and on the photo page, where every face of the upload is read
under it. The server and browser fixtures are tests/e2e/test_browser.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skimage_data
from test_browser import REAL, _launch, _settle
from test_browser import server_without_data as _server_without_data

playwright = pytest.importorskip("playwright.sync_api")
expect, sync_playwright = playwright.expect, playwright.sync_playwright

pytestmark = pytest.mark.e2e
server_without_data = _server_without_data  # the fixture, shared


def _builtin_resamples() -> int:
    """The bootstrap resamples of the built-in evaluation `server_without_data` serves."""
    if REAL:
        from bnnfer import settings

        metrics = Path(settings.BUNDLED_EVALUATION) / "metrics.json"
        return int(json.loads(metrics.read_text())["n_boot"])
    return 7  # the fixture's `bnnfer evaluate --n-boot 7`


def test_switching_the_prior_rereads_the_overview_and_a_photo(server_without_data, tmp_path):
    url, chromium = server_without_data
    expect.set_options(timeout=180_000)
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url)
        _settle(page)
        # the built-in evaluation's own intervals: the tiny bundle's 7 resamples, or the
        # shipped evaluation's with BNNFER_E2E_REAL=1
        expect(page.get_by_text(f"{_builtin_resamples()} resamples").first).to_be_visible()
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("uniform", exact=True).click()
        # the first change after the page loaded counts: it was lost while a pages/ folder sat
        # beside the entry script (Streamlit then gave the sidebar's widgets new IDs on rerun)
        expect(page.get_by_text("read under the uniform prior").first).to_be_visible()
        expect(sidebar.get_by_role("radio", name="uniform")).to_be_checked()
        _settle(page)
        expect(page.get_by_text("200 resamples").first).to_be_visible()  # bootstrapped live
        sidebar.get_by_text("Your photo", exact=True).click()
        _settle(page)
        page.locator("[data-testid='stMain'] input[type='file']").first.set_input_files(str(photo))
        expect(page.get_by_text("Every face read under the uniform prior")).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        browser.close()
