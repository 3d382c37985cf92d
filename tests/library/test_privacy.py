"""Faces are personal data: the dashboard listens on this machine only, keeps Streamlit's XSRF
and CORS protections, and nothing of an uploaded face (its bytes, its decoded crops) reaches the
disk, whether the analysis succeeds or fails halfway. The browser-level no-trace check is in
tests/e2e/test_browser.py; these check the configuration and the library path beneath it."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.notrace import snapshot, traces
from PIL import Image
from skimage import data as skimage_data

from bnnfer.cli import main
from bnnfer.media.faces import MAX_PHOTOS_PER_UPLOAD, PhotoError, check_photo_count
from bnnfer.media.predict import predict_photo
from bnnfer.training import bundle

ROOT = Path(__file__).resolve().parents[2]


def _astronaut_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def streamlit_config(monkeypatch, tmp_path):
    """Streamlit's options as it resolves them when started from the repository, with no
    per-user config (~/.streamlit) and no STREAMLIT_* variables in the way."""
    from streamlit import config

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [n for n in os.environ if n.startswith("STREAMLIT_")]:
        monkeypatch.delenv(name)
    config.get_config_options(force_reparse=True)
    yield config
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_the_dashboard_listens_on_localhost_only(streamlit_config):
    assert streamlit_config.get_option("server.address") == "127.0.0.1"
    where = streamlit_config.get_where_defined("server.address")
    assert Path(where).resolve() == ROOT / "bnnfer_dashboard" / ".streamlit" / "config.toml"


def test_xsrf_protection_and_cors_stay_on(streamlit_config):
    assert streamlit_config.get_option("server.enableXsrfProtection") is True
    assert streamlit_config.get_option("server.enableCORS") is True
    assert streamlit_config.get_option("server.maxUploadSize") <= 20  # MB, as MAX_PHOTO_BYTES


# `streamlit run app.py` in the checkout, and `bnnfer dashboard` from any other folder (the
# installed package's way: Streamlit then reads the config beside bnnfer_dashboard/app.py)
BNNFER = "import sys; from bnnfer.cli import main; sys.exit(main())"
STARTS = {
    "checkout": ([sys.executable, "-m", "streamlit", "run", "app.py"], True),
    "bnnfer dashboard": ([sys.executable, "-c", BNNFER, "dashboard"], False),
}


@pytest.mark.parametrize("start", list(STARTS))
def test_a_fresh_streamlit_run_prints_only_a_local_url(tmp_path, start):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command, in_checkout = STARTS[start]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(HOME=str(tmp_path), BNNFER_DATA=str(tmp_path / "no-data"), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [*command, "--server.port", str(port)],
        cwd=ROOT if in_checkout else tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "URL:" in line:
                time.sleep(1)  # a Network URL line would follow at once
                break
    finally:
        process.terminate()
        process.wait(timeout=10)
    printed = "".join(lines)
    urls = [line.strip() for line in printed.splitlines() if "URL:" in line]
    assert urls == [f"URL: http://127.0.0.1:{port}"], printed
    assert "Network URL" not in printed and "External URL" not in printed


def test_predict_photo_leaves_no_trace(tiny_bundle, tmp_path, monkeypatch, isolated_cache):
    _, models, _ = tiny_bundle
    temporary, work = tmp_path / "tmp", tmp_path / "work"
    temporary.mkdir(), work.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    monkeypatch.chdir(work)
    methods = bundle.load_bundle(models, "cpu")
    photo = _astronaut_jpeg()
    roots = [temporary, work, isolated_cache]
    before = snapshot(*roots)

    result = predict_photo(methods, photo, samples=3)
    assert result.faces, "the astronaut's face should be found"
    with pytest.raises(PhotoError, match="damaged or truncated"):
        predict_photo(methods, photo[: len(photo) // 2], samples=3)  # fails while decoding

    crops = [face.crop.tobytes() for face in result.faces]
    after = snapshot(*roots)
    assert after == before, traces(before, after, [photo, *crops]) or sorted(
        set(after) - set(before)
    )


def test_bnnfer_predict_writes_crops_only_when_asked(tiny_bundle, tmp_path, monkeypatch, capsys):
    _, models, _ = tiny_bundle
    monkeypatch.chdir(tmp_path)
    (tmp_path / "astronaut.jpg").write_bytes(_astronaut_jpeg())
    argv = ["predict", "astronaut.jpg", "--models", str(models), "--samples", "2"]

    before = snapshot(tmp_path)
    assert main(argv) == 0
    assert snapshot(tmp_path) == before

    assert main([*argv, "--save-crops", "crops"]) == 0
    saved = sorted((tmp_path / "crops").iterdir())
    assert [p.name for p in saved] == ["astronaut-face1.png"]
    with Image.open(saved[0]) as crop:
        assert crop.size == (48, 48) and crop.mode == "L"

    (tmp_path / "a-file").write_text("not a folder")
    capsys.readouterr()
    assert main([*argv, "--save-crops", "a-file"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_an_upload_beyond_the_photo_cap_is_refused_with_the_cap():
    check_photo_count(MAX_PHOTOS_PER_UPLOAD)
    with pytest.raises(PhotoError, match=f"at most {MAX_PHOTOS_PER_UPLOAD} are analysed"):
        check_photo_count(MAX_PHOTOS_PER_UPLOAD + 1)


def test_traces_finds_a_partial_copy_and_an_image(tmp_path):
    """The no-trace check itself can fail: a file holding part of the upload, or any image."""
    secret = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    before = snapshot(tmp_path)
    (tmp_path / "partial.bin").write_bytes(b"header" + secret[:2500])
    Image.new("L", (48, 48)).save(tmp_path / "crop.png")
    (tmp_path / "harmless.txt").write_text("nothing of a face")
    found = traces(before, snapshot(tmp_path), [secret])
    assert sorted(Path(f.split()[0]).name for f in found) == ["crop.png", "partial.bin"]
