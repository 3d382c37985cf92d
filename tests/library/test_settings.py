"""bnnfer.settings: each BNNFER_* variable read with its default, docs/data.md's table of them,
and no other module reading one directly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bnnfer import settings

ROOT = Path(__file__).resolve().parents[2]
READERS = {
    "BNNFER_DATA": settings.data_dir,
    "BNNFER_CACHE": settings.cache_dir,
    "BNNFER_MODELS": settings.models_dir,
    "BNNFER_EVALUATION": settings.evaluation_dir,
    "BNNFER_BUILTIN_EVALUATION": settings.builtin_evaluation_dir,
    "BNNFER_ANNOTATIONS": settings.annotations_target,
}


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in READERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return tmp_path


def test_every_setting_has_a_reader():
    assert [s.name for s in settings.SETTINGS] == list(READERS)


def test_defaults_without_the_variables(clean_environment):
    tmp = clean_environment
    assert settings.data_dir() == Path("data/ferplus")
    assert settings.cache_dir() == tmp / "cache" / "bnnfer"
    assert settings.models_dir() == settings.BUNDLED_MODELS
    assert (settings.models_dir() / "manifest.json").is_file()
    assert settings.evaluation_dir() == Path("bnnfer-evaluation")
    assert settings.builtin_evaluation_dir() == settings.BUNDLED_EVALUATION
    assert (settings.builtin_evaluation_dir() / "metrics.json").is_file()
    assert settings.annotations_target() == tmp / "share" / "bnnfer" / "annotations.sqlite"


@pytest.mark.parametrize("name", list(READERS))
def test_each_variable_wins_and_an_empty_one_is_unset(name, clean_environment, monkeypatch):
    default = READERS[name]()
    monkeypatch.setenv(name, "~/elsewhere")
    value = READERS[name]()
    expected = "~/elsewhere" if name == "BNNFER_ANNOTATIONS" else Path.home() / "elsewhere"
    assert value == expected  # a URL is passed on as written; a folder is expanded
    monkeypatch.setenv(name, "")
    assert READERS[name]() == default


def test_docs_table_lists_every_setting():
    text = (ROOT / "docs" / "data.md").read_text()
    rows = re.findall(r"^\| `(BNNFER_\w+)` \| (.+?) \| (.+?) \|$", text, flags=re.M)
    assert rows == [(s.name, s.means, s.default) for s in settings.SETTINGS]


def test_no_other_module_reads_a_bnnfer_variable():
    """Reading happens in bnnfer.settings only; setting one for a child process is allowed."""
    reading = re.compile(r"""(environ\.get|getenv)\(\s*["']BNNFER_|environ\[\s*["']BNNFER_""")
    folders = [ROOT / "bnnfer", ROOT / "bnnfer_dashboard", ROOT / "benchmarks"]
    files = [ROOT / "app.py", *(p for folder in folders for p in folder.rglob("*.py"))]
    readers = [
        str(p.relative_to(ROOT))
        for p in files
        if p != ROOT / "bnnfer" / "settings.py" and reading.search(p.read_text())
    ]
    assert readers == []
    assert reading.search('os.environ.get("BNNFER_DATA")')  # the pattern finds a reader
