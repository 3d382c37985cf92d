"""The annotations database: one current vote per face and annotator with the history kept,
a database of the first schema opened by this bnnfer, two writers at once, a writer killed
between votes, bad input (URL, read-only file, locked database), and the same on PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.postgres import Server, start

from bnnfer.annotations import database
from bnnfer.annotations.database import AnnotationsError, Ballot, VoteStore

ROOT = Path(__file__).resolve().parents[2]
WRITER = ROOT / "tests" / "helpers" / "annotation_writer.py"
FIRST_SCHEMA = ROOT / "tests" / "helpers" / "annotations-0001.sql"


@pytest.fixture(scope="session")
def postgres_url():
    server = start()
    if not isinstance(server, Server):
        pytest.skip(f"no PostgreSQL server for this test: {server}")
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "votes.sqlite")
    base = request.getfixturevalue("postgres_url")
    store = VoteStore.open(base)  # each test starts from an empty database
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM votes; DELETE FROM vote_history")
    store.close()
    return base


def test_one_current_vote_per_face_and_annotator_the_history_kept(url: str) -> None:
    with VoteStore.open(url) as store:
        store.cast(Ballot("ferplus:valid", "fer1.png", "ada", "sadness", seconds=2.0))
        store.cast(Ballot("ferplus:valid", "fer1.png", "ada", "Happiness", strategy="random"))
        store.cast(Ballot("ferplus:valid", "fer1.png", "ben", "NF", blind=False))
        store.cast(Ballot("ferplus:valid", "fer2.png", "ada", "unknown"))
        assert store.withdraw("ferplus:valid", "fer2.png", "ada") == "unknown"
        assert store.withdraw("ferplus:valid", "fer2.png", "ada") is None
        votes = store.votes("ferplus:valid")
        history = store.history()
    assert sorted(
        zip(votes.annotator, votes.emotion, votes.strategy, votes.blind, strict=True)
    ) == [
        ("ada", "happiness", "random", True),
        ("ben", "NF", "file order", False),
    ]
    assert list(history.action) == ["vote", "vote", "vote", "vote", "withdraw"]
    assert list(history.emotion[:2]) == ["sadness", "happiness"]


def test_a_vote_with_a_bad_field_is_refused_naming_it(tmp_path: Path) -> None:
    with VoteStore.open(tmp_path / "v.sqlite") as store:
        with pytest.raises(ValueError, match="emotion 'joy' is not one of"):
            store.cast(Ballot("d", "f", "ada", "joy"))
        with pytest.raises(ValueError, match="annotator must be 1 to 100"):
            store.cast(Ballot("d", "f", "  ", "happiness"))
        with pytest.raises(ValueError, match="seconds must be >= 0"):
            store.cast(Ballot("d", "f", "ada", "happiness", seconds=-1.0))
        assert store.votes().empty


def test_a_database_made_by_the_first_schema_opens_with_its_votes(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(FIRST_SCHEMA.read_text())
    with VoteStore.open(path) as store:
        votes = store.votes()
        assert list(votes.face) == ["fer0000001.png"] and list(votes.emotion) == ["happiness"]
        assert list(store.history().emotion) == ["sadness", "happiness"]
        store.cast(Ballot("ferplus:valid", "fer0000001.png", "ada", "anger"))
        assert list(store.votes().emotion) == ["anger"]


def test_a_database_of_a_later_bnnfer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    VoteStore.open(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(AnnotationsError, match=r"made by a later bnnfer .*9999"):
        VoteStore.open(path)


def _writer(url: str, annotator: str, faces: int, *rest: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, annotator, str(faces), *rest],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's bnnfer
    )


@pytest.mark.slow  # 20-30 s: two writer processes, an fsync per vote
def test_two_writers_on_the_same_faces_never_overwrite_each_other(url: str, tmp_path: Path) -> None:
    """Two processes vote on the same 30 faces at once, each as its own annotator and both as
    one annotator in two tabs: every vote is stored, none lost to the other writer."""
    go = tmp_path / "go"
    writers = [_writer(url, name, 30, str(go)) for name in ("ada", "bob")]
    time.sleep(0.5)
    go.touch()
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0 and out.count("acked") == 30
    with VoteStore.open(url) as store:
        votes = store.votes("test")
        history = store.history("test")
    counts = votes.annotator.value_counts().to_dict()
    assert counts == {"ada": 30, "bob": 30, "tab": 30}
    assert len(history) == 120  # every cast kept, the two tabs' 60 included
    assert not votes.duplicated(["face", "annotator"]).any()


def test_a_writer_killed_between_votes_loses_none_it_acknowledged(url: str) -> None:
    writer = _writer(url, "ada", 10_000)
    acked = []
    assert writer.stdout is not None
    while len(acked) < 15:
        line = writer.stdout.readline()
        assert line, "the writer stopped before voting"
        acked.append(line.split()[1])
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with VoteStore.open(url) as store:
        stored = set(store.votes("test", annotator="ada").face)
    assert set(acked) <= stored


def test_bad_urls_are_named(tmp_path: Path) -> None:
    with pytest.raises(AnnotationsError, match="names no database driver"):
        VoteStore.open("nosuchdb://host/x")
    with pytest.raises(AnnotationsError, match="is not a SQLAlchemy URL"):
        VoteStore.open("postgresql://user@host:notaport/x")
    with pytest.raises(AnnotationsError, match="cannot use the annotations database"):
        VoteStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none")
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("these are not votes\n" * 100)
    with pytest.raises(AnnotationsError, match="is not an SQLite database"):
        VoteStore.open(not_sqlite)


def test_the_default_database_lives_in_the_data_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(database.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert database.resolve_url().database == str(tmp_path / "data/bnnfer/annotations.sqlite")
    monkeypatch.setenv(database.ENV_VAR, "postgresql+psycopg://u:secret@db/bnnfer")
    assert database.shown(database.resolve_url()) == "postgresql+psycopg://u:***@db/bnnfer"


def test_a_read_only_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    with VoteStore.open(path) as store:
        store.cast(Ballot("d", "f", "ada", "happiness"))
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"  # read-only even for root
    with VoteStore.open(read_only) as store:
        assert len(store.votes()) == 1
        with pytest.raises(AnnotationsError, match="is read-only"):
            store.cast(Ballot("d", "g", "ada", "happiness"))
    if os.geteuid() != 0:  # root writes through file permissions
        path.chmod(0o444)
        with pytest.raises(AnnotationsError, match="is read-only"):
            VoteStore.open(path)


def test_a_database_locked_past_the_timeout_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "v.sqlite"
    VoteStore.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(database, "RETRIES", 2)
    try:
        with VoteStore.open(path, busy_timeout=0.1) as store:
            pass
    except AnnotationsError as error:  # the migration check already waits for the lock
        assert "locked by another writer" in str(error)
    else:
        with pytest.raises(AnnotationsError, match="locked by another writer"):
            store.cast(Ballot("d", "f", "ada", "happiness"))
    holder.execute("ROLLBACK")
    holder.close()
