"""The wheel carries what an installed bnnfer needs, and nothing it must not: both packages
(bnnfer and bnnfer_dashboard), the bundled models and their evaluation, the dashboard's pages, its
Streamlit config and clips; no tests, no benchmarks, no FER pixels; under 60 MB; the license as
an SPDX expression. Installed, it predicts and serves the dashboard from an empty folder.

The wheel is built from a copy of the checkout's files (a stale build/ folder in the checkout
cannot slip into it), offline: the build backend is the one installed (the dev extra's)."""

from __future__ import annotations

import email
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 60 * 2**20
IMAGE_SIZE = 48  # a FER face's side, in pixels


def _checkout_files() -> list[str]:
    """The checkout's tracked and new files (what ``pip install .`` on a clean clone sees)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the wheel is built from its tracked files")
    names = [name for name in listed.stdout.decode().split("\0") if name]
    return [name for name in names if (ROOT / name).is_symlink() or (ROOT / name).exists()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name, follow_symlinks=False)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "--wheel-dir", str(out), str(source)], check=True)
    (built,) = out.glob("bnnfer-*.whl")
    return built


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _dist_info(wheel: Path) -> str:
    """The wheel's metadata folder, ``bnnfer-VERSION.dist-info``."""
    (folder,) = {n.split("/")[0] for n in _names(wheel) if n.split("/")[0].endswith(".dist-info")}
    return folder


def _shipped(folder: str) -> set[str]:
    """The files of a checkout folder, as paths inside the wheel."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()}


def test_the_wheel_stays_small(wheel):
    assert wheel.stat().st_size < MAX_BYTES, f"{wheel.stat().st_size / 2**20:.1f} MB"


def test_the_wheel_carries_both_packages_and_their_data(wheel):
    names = _names(wheel)
    assert {"bnnfer/__init__.py", "bnnfer/settings.py", "bnnfer_dashboard/app.py"} <= names
    for folder in ("bnnfer/assets/models", "bnnfer/assets/evaluation"):
        assert _shipped(folder) and _shipped(folder) <= names, folder
    assert "bnnfer/assets/models/manifest.json" in names
    pages = _shipped("bnnfer_dashboard/screens")
    assert len(pages) >= 8 and pages <= names
    assert "bnnfer_dashboard/.streamlit/config.toml" in names
    assert _shipped("bnnfer_dashboard/videos") <= names


def test_the_wheel_holds_no_tests_benchmarks_or_faces(wheel):
    names = _names(wheel)
    tops = {name.split("/")[0] for name in names}
    assert tops == {"bnnfer", "bnnfer_dashboard", _dist_info(wheel)}, tops
    pictures = [n for n in names if n.lower().endswith((".png", ".jpg", ".jpeg", ".csv"))]
    assert not pictures, pictures
    with zipfile.ZipFile(wheel) as archive:
        for name in (n for n in names if n.endswith(".npz")):
            with np.load(io.BytesIO(archive.read(name)), allow_pickle=False) as arrays:
                shapes = {key: arrays[key].shape for key in arrays.files}
            faces = {k: s for k, s in shapes.items() if s[-2:] == (IMAGE_SIZE, IMAGE_SIZE)}
            assert not faces, f"{name} holds pixels: {faces}"


def test_the_license_is_an_spdx_expression_with_its_files(wheel):
    info = _dist_info(wheel)
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        names = set(archive.namelist())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License"] is None  # the deprecated free-text field is gone
    assert f"{info}/licenses/LICENSE" in names
    assert "\nbnnfer = bnnfer." in entry_points  # the console script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_installed_wheel_predicts_and_serves_from_an_empty_folder(wheel, tmp_path):
    """`pip install` of the wheel (its dependencies: this environment's), then from an empty
    folder `bnnfer predict` on a photo and `bnnfer dashboard` answering on 127.0.0.1."""
    site, empty = tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, "--target", str(site), str(wheel)], check=True)
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo, quality=90)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "BNNFER_"))}
    env.update(PYTHONPATH=str(site), HOME=str(tmp_path), BNNFER_CACHE=str(tmp_path / "cache"))
    bnnfer = [sys.executable, "-c", "import sys; from bnnfer.cli import main; sys.exit(main())"]
    where = [sys.executable, "-c", "import bnnfer as b, bnnfer_dashboard as d; print(b, d)"]

    found = subprocess.run(where, cwd=empty, env=env, capture_output=True, text=True, check=True)
    assert found.stdout.count(str(site)) == 2, found.stdout  # the wheel's, not the checkout's
    predicted = subprocess.run(
        [*bnnfer, "predict", str(photo)], cwd=empty, env=env, capture_output=True, text=True
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "1 face(s) found" in predicted.stdout and "happiness" in predicted.stdout

    port = _free_port()
    server = subprocess.Popen(
        [*bnnfer, "dashboard", "--server.port", str(port)],
        cwd=empty,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, answer = time.monotonic() + 120, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as reply:
                    answer = reply.read().decode()
            except OSError:
                time.sleep(0.5)
        assert answer == "ok"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not any(empty.iterdir()), "bnnfer wrote into the folder it was started from"
