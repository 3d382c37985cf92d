"""End to end: `streamlit run app.py` on a free localhost port, driven in Debian's Chromium by
Playwright. Every page is visited, a real face photo is uploaded, a bundled clip is charted,
and a screenshot of each page is saved (under $BNNFER_SCREENSHOTS, else the test's tmp folder),
with the FER faces painted over so that no FER pixels end up in the repository.

By default the app runs on the tiny test bundle and synthetic FER+ folder; with
BNNFER_E2E_REAL=1 it runs on the bundled models and the real FER+ data (how the README's
screenshots are made).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as skimage_data

playwright = pytest.importorskip("playwright.sync_api")
expect, sync_playwright = playwright.expect, playwright.sync_playwright

ROOT = Path(__file__).resolve().parents[2]
# the real bundle and FER+ data instead of the tiny bundle (how the screenshots are taken)
REAL = os.environ.get("BNNFER_E2E_REAL") == "1"
PAGES = [
    ("", "overview"),
    ("explore", "explore"),
    ("calibration", "calibration"),
    ("uncertainty", "uncertainty"),
    ("photo", "photo"),
    ("video", "video"),
]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s")


@contextlib.contextmanager
def _streamlit(env: dict, log_path: Path):
    """``streamlit run app.py`` on a free localhost port with ``env``; yields its URL."""
    port = _free_port()
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip  # options beside their values
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _chromium() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return chromium


@pytest.fixture
def server(tiny_bundle, tmp_path):
    chromium = _chromium()
    env = dict(os.environ)
    if REAL:
        from conftest import real_data_dir

        env["BNNFER_DATA"] = str(real_data_dir())
        env.pop("BNNFER_MODELS", None)
    else:
        root, models, _ = tiny_bundle
        env.update(BNNFER_DATA=str(root), BNNFER_MODELS=str(models))
        env["BNNFER_EVALUATION"] = str(tmp_path / "no-evaluation")
        env["BNNFER_BUILTIN_EVALUATION"] = str(tmp_path / "no-builtin-evaluation")
    with _streamlit(env, tmp_path / "streamlit.log") as url:
        yield url, chromium


@pytest.fixture
def server_without_data(tiny_bundle, tmp_path):
    """The app with no FER+ folder, on a built-in evaluation of the tiny bundle (the shipped
    one with BNNFER_E2E_REAL=1)."""
    from bnnfer.cli import main

    chromium = _chromium()
    env = dict(os.environ, BNNFER_DATA=str(tmp_path / "no-data"))
    env["BNNFER_EVALUATION"] = str(tmp_path / "no-evaluation")
    if REAL:
        env.pop("BNNFER_MODELS", None)
        env.pop("BNNFER_BUILTIN_EVALUATION", None)
    else:
        root, models, _ = tiny_bundle
        builtin = tmp_path / "builtin"
        argv = [
            "evaluate", "--models", str(models), "--data", str(root), "--split", "valid",
            "--n-boot", "7", "--out", str(builtin), "--compact",
        ]  # fmt: skip  # options beside their values
        assert main(argv) == 0
        env.update(BNNFER_MODELS=str(models), BNNFER_BUILTIN_EVALUATION=str(builtin))
    with _streamlit(env, tmp_path / "streamlit.log") as url:
        yield url, chromium


def _launch(p, chromium: str):
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    return p.chromium.launch(executable_path=chromium, headless=True, args=flags)


def _settle(page) -> None:
    """Wait for the page's script to finish: its title is drawn and nothing is running."""
    expect(page.locator("section.stMain, [data-testid='stMain']").first).to_be_visible()
    expect(page.locator("h1").first).to_be_visible()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] button')"
        " && !document.querySelector('.stSpinner')"
    )
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()


def test_without_data_every_page_shows_the_builtin_evaluation(server_without_data):
    url, chromium = server_without_data
    expect.set_options(timeout=180_000)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        for path, name in PAGES[:4]:
            page.goto(f"{url}/{path}")
            _settle(page)
            expect(page.get_by_text("built-in evaluation").first).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            if name == "overview":  # every bundled row placed among the annotators
                expect(page.get_by_text("Is a model as good as a person?")).to_be_visible()
                placed = page.get_by_text(re.compile(r": worth (about|less|more)"))
                expect(placed.first).to_be_visible()
            if name == "explore":
                expect(page.get_by_text("faces match").first).to_be_visible()
                expect(page.get_by_text("Faces are drawn as placeholders")).to_be_visible()
                # the grid's placeholders (the caption can come before the images are drawn)
                expect(page.locator("[data-testid='stImage'] img").nth(1)).to_be_visible()
        browser.close()


def test_every_page_a_photo_and_a_clip_in_chromium(server, tmp_path):
    url, chromium = server
    expect.set_options(timeout=180_000)  # the first page load runs the models
    shots = Path(os.environ.get("BNNFER_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(180_000)
        for path, name in PAGES:
            page.goto(f"{url}/{path}")
            _settle(page)
            if name not in ("photo", "video"):  # those two chart what is given them
                expect(
                    page.locator(".js-plotly-plot, [data-testid='stDataFrame']").first
                ).to_be_visible()
            if name == "overview":  # the forest plot can come after the table
                expect(page.locator(".js-plotly-plot").first).to_be_visible()
            if name == "photo":
                page.locator("[data-testid='stMain'] input[type='file']").first.set_input_files(
                    str(photo)
                )
                expect(page.get_by_text("1 face(s) found")).to_be_visible()
                expect(page.locator(".js-plotly-plot").first).to_be_visible()
                expect(page.get_by_text("Face 1:")).to_be_visible()
            if name == "video":
                page.get_by_text("astronaut-crossing.mp4").first.click()  # a bundled example
                expect(page.get_by_text("track(s)").first).to_be_visible()
                expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.wait_for_timeout(1500)  # let charts finish drawing before the screenshot
            # FER faces are painted over: the screenshots go into the repository, and nothing
            # holding FER pixels may (the photo and video pages show the public-domain astronaut)
            own = name in ("photo", "video")
            faces = [] if own else [page.locator("[data-testid='stImage'] img")]
            page.screenshot(
                path=str(shots / f"{name}.png"), full_page=True, mask=faces, mask_color="#b0b0b0"
            )
        browser.close()
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(f"{n}.png" for _, n in PAGES)


def _served_valid(tiny_bundle):
    """The Valid split the `server` fixture's app reads: the tiny bundle's, or with
    BNNFER_E2E_REAL=1 the real one (an upload must name its faces to become a row)."""
    if REAL:
        from conftest import real_data_dir

        from bnnfer import load_ferplus

        return load_ferplus(real_data_dir(), ["valid"])["valid"]
    return tiny_bundle[2]["valid"]


def test_uploaded_predictions_become_a_row_on_the_overview(server, tiny_bundle, tmp_path):
    import csv

    import numpy as np

    from bnnfer.constants import EMOTIONS

    url, chromium = server
    valid = _served_valid(tiny_bundle)
    logits = np.random.default_rng(0).normal(size=(len(valid), 8))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    upload = tmp_path / "my_model.csv"
    with open(upload, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *EMOTIONS])
        writer.writerows(
            [name, *map(float, row)] for name, row in zip(valid.names, probs, strict=True)
        )
    expect.set_options(timeout=180_000)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url)
        _settle(page)
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.locator("input[type='file']").first.set_input_files(str(upload))
        expect(sidebar.get_by_text("my_model.csv")).to_be_visible()  # the upload is listed
        # the Overview's table gains the uploaded file's row, named after the file
        expect(page.locator("[data-testid='stDataFrame']").first).to_contain_text("my_model")
        _settle(page)
        # every page treats the row like a bundled one (the upload stays with the session)
        for link, table in (("Explore faces", -1), ("Calibration", 0), ("Uncertainty", None)):
            sidebar.get_by_text(link, exact=True).click()
            _settle(page)
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            if table is not None:
                frames = page.locator("[data-testid='stDataFrame']")
                expect(frames.nth(table)).to_contain_text("my_model")
        browser.close()


@pytest.fixture
def private_server(tiny_bundle, tmp_path):
    """The app on the tiny bundle with its own temporary and cache folders, so that what it
    writes there can be inspected."""
    chromium = _chromium()
    root, models, _ = tiny_bundle
    temporary, cache = tmp_path / "server-tmp", tmp_path / "server-cache"
    temporary.mkdir(), cache.mkdir()
    env = dict(os.environ, BNNFER_DATA=str(root), BNNFER_MODELS=str(models))
    env.update(TMPDIR=str(temporary), BNNFER_CACHE=str(cache))
    env["BNNFER_EVALUATION"] = str(tmp_path / "no-evaluation")
    env["BNNFER_BUILTIN_EVALUATION"] = str(tmp_path / "no-builtin-evaluation")
    with _streamlit(env, tmp_path / "streamlit.log") as url:
        yield url, chromium, [temporary, cache]


@contextlib.contextmanager
def _leaves_no_trace(server_dirs: list[Path], tmp_path: Path, uploads: dict[str, bytes]):
    """Write ``uploads`` ({file name: bytes}) into ``tmp_path`` and yield their paths; when the
    block ends, fail if a file in ``server_dirs`` or the working directory appeared or changed
    holding their bytes, or (in ``server_dirs``) if one is an image."""
    from helpers.notrace import snapshot, traces

    for name, data in uploads.items():
        (tmp_path / name).write_bytes(data)
    skip = (".git", ".venv", "runs", "__pycache__", ".pytest_cache", ".ruff_cache")
    before = snapshot(*server_dirs), snapshot(ROOT, skip=skip)
    yield {name: str(tmp_path / name) for name in uploads}
    secrets = list(uploads.values())
    after = snapshot(*server_dirs), snapshot(ROOT, skip=skip)
    found = traces(before[0], after[0], secrets) + traces(before[1], after[1], secrets, False)
    assert not found, found


def test_an_uploaded_photo_leaves_no_trace_on_disk(private_server, tmp_path):
    """Upload a photo and a truncated one: afterwards no file in the server's temporary folder,
    its cache or the working directory holds the upload's bytes or a crop, nor is any image."""
    import io

    url, chromium, server_dirs = private_server
    photo = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(photo, format="JPEG", quality=90)
    uploads = {"astronaut.jpg": photo.getvalue(), "broken.jpg": photo.getvalue()[:20_000]}
    expect.set_options(timeout=180_000)
    with _leaves_no_trace(server_dirs, tmp_path, uploads) as files, sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/photo")
        _settle(page)
        expect(page.get_by_text("not written to disk").first).to_be_visible()
        page.locator("[data-testid='stMain'] input[type='file']").first.set_input_files(
            list(files.values())
        )
        expect(page.get_by_text("Face 1:")).to_be_visible()
        expect(page.get_by_text("damaged or truncated")).to_be_visible()
        _settle(page)
        browser.close()


def test_an_uploaded_video_is_charted_and_leaves_no_trace_on_disk(private_server, tmp_path):
    """Upload a clip of two faces crossing: a chart per track, the summary table and the CSV
    download appear. Then the same clip cut in half: refused as truncated. Afterwards no file in
    the server's temporary folder, its cache or the working directory holds the clip's bytes,
    nor is any image (a decoded frame or crop)."""
    from helpers.clips import crossing_faces

    url, chromium, server_dirs = private_server
    clip = crossing_faces(2.0, fps=10)[0]
    uploads = {"crossing.mp4": clip, "broken.mp4": clip[: len(clip) // 2]}
    expect.set_options(timeout=180_000)
    with _leaves_no_trace(server_dirs, tmp_path, uploads) as files, sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(180_000)
        page.goto(f"{url}/video")
        _settle(page)
        uploader = page.locator("[data-testid='stMain'] input[type='file']").first
        uploader.set_input_files(files["crossing.mp4"])
        expect(page.get_by_text("2 track(s)")).to_be_visible()
        expect(page.locator(".js-plotly-plot").nth(1)).to_be_visible()  # one chart per track
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
        expect(page.get_by_role("button", name="Download the table (CSV)")).to_be_visible()
        _settle(page)
        uploader.set_input_files(files["broken.mp4"])
        expect(page.get_by_text("truncated").first).to_be_visible()
        _settle(page)
        browser.close()


def test_a_bookmarked_page_opens_inside_the_dashboard(server_without_data):
    """The first request to a fresh server names a page (a bookmark of /photo): it opens with
    the dashboard's navigation and sidebar, not as a lone file of the pages/ folder."""
    url, chromium = server_without_data
    expect.set_options(timeout=120_000)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/photo")
        _settle(page)
        expect(page.locator("h1").first).to_have_text("Your photo")
        sidebar = page.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_text("Settings")).to_be_visible()
        expect(sidebar.get_by_text("Explore faces", exact=True)).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
        browser.close()


@pytest.fixture
def annotated_server(tiny_bundle, tmp_path):
    """The app on a folder of synthetic faces whose votes carry their annotators' names
    (annotations.csv), and the tiny bundle."""
    from helpers.crowds import write_annotated_folder

    chromium = _chromium()
    _, models, _ = tiny_bundle
    folder = write_annotated_folder(tmp_path / "annotated")
    env = dict(os.environ, BNNFER_DATA=str(folder), BNNFER_MODELS=str(models))
    env["BNNFER_EVALUATION"] = str(tmp_path / "no-evaluation")
    env["BNNFER_BUILTIN_EVALUATION"] = str(tmp_path / "no-builtin-evaluation")
    with _streamlit(env, tmp_path / "streamlit.log") as url:
        yield url, chromium


def test_the_annotators_page_ranks_people_and_opens_a_face(annotated_server):
    from bnnfer.evaluation.annotators import crowd_kit_available

    url, chromium = annotated_server
    expect.set_options(timeout=180_000)
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/annotators")
        _settle(page)
        expect(page.get_by_text("7 annotators and the models, ranked")).to_be_visible()
        expect(page.get_by_text("Alone against everyone else")).to_be_visible()
        expect(page.get_by_text("answered otherwise than all the others")).to_be_visible()
        # the chosen face's detail: its chart among the page's (ranking, matrix, detail)
        charts = 3 if crowd_kit_available() else 2  # the server runs in this environment
        expect(page.locator(".js-plotly-plot")).to_have_count(charts)
        expect(page.locator("[data-testid='stImage'] img").last).to_be_visible()
        sidebar = page.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_text("Metrics against people read against")).to_be_visible()
        browser.close()
