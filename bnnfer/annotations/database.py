"""Opening an annotations database and writing votes to it so that none is lost or overwritten.

Where: `resolve_url` takes a file path or any SQLAlchemy URL (``postgresql+psycopg://...``
serves a team); without one, `bnnfer.settings.annotations_target`: ``$BNNFER_ANNOTATIONS``,
else an SQLite file in the user's data folder (``$XDG_DATA_HOME/bnnfer``, else
``~/.local/share/bnnfer``).

`VoteStore.open` connects, runs the schema's Alembic migrations up to the newest (so a later
bnnfer opens an earlier database, and refuses one made by a later bnnfer), and every write is
one transaction, committed before it returns:

- SQLite runs in WAL mode with ``synchronous=FULL`` (a committed vote survives a killed
  process and a power cut), a busy timeout, and transactions that take the write lock when they
  begin (``BEGIN IMMEDIATE``), so two writers queue instead of failing half-way;
- PostgreSQL's transactions and the unique (dataset, face, annotator) constraint keep two
  sessions voting on the same faces from overwriting each other: a writer that loses a race is
  retried (`RETRIES` times, with a growing pause).

A changed mind replaces the annotator's current vote on that face (``votes``); every vote cast
and withdrawn stays in ``vote_history``. Bad input (a URL no driver reads, a server that does
not answer, a read-only file, a database locked past the timeout, a vote naming an unknown
emotion) is an `AnnotationsError` saying what is wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import pandas as pd
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.pool import NullPool

from .. import settings
from ..constants import VOTE_COLUMNS
from . import schema

ENV_VAR = "BNNFER_ANNOTATIONS"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0  # how long an SQLite writer waits for another's lock, per attempt
RETRIES = 5  # attempts of a write that lost a race or found the database locked
# what a `VoteStore.votes` frame holds, one row per current vote
COLUMNS = ("dataset", "face", "annotator", "emotion", "cast_at", "seconds", "strategy", "blind")
_EMOTIONS = {column.lower(): column for column in VOTE_COLUMNS}
T = TypeVar("T")


class AnnotationsError(RuntimeError):
    """An annotations database that cannot be opened or written, or a vote that cannot be
    stored; the message names the database and what to do."""


def resolve_url(target: str | os.PathLike[str] | None = None) -> URL:
    """The database of ``target``: a SQLAlchemy URL (anything holding ``://``) or an SQLite
    file's path; None reads `bnnfer.settings.annotations_target` (``$BNNFER_ANNOTATIONS``, else
    an SQLite file in the user's data folder)."""
    if target is None:
        target = settings.annotations_target()
    text = os.fspath(target).strip()
    if not text:
        raise AnnotationsError(f"the annotations database is empty; {_WHAT}")
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser().absolute()))
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        raise AnnotationsError(f"{text!r} is not a SQLAlchemy URL; {_WHAT}") from None


_WHAT = (
    f"pass --db or set {ENV_VAR} to a file path (an SQLite database) or a SQLAlchemy URL such "
    "as postgresql+psycopg://user:password@host/bnnfer"
)


def shown(url: URL) -> str:
    """``url`` as a person may see it: the password hidden; an SQLite file as its path."""
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


@dataclass(frozen=True)
class Ballot:
    """One vote to store: ``emotion`` is one of ``VOTE_COLUMNS`` (any case); ``seconds`` the
    time from the face shown to the vote; ``strategy`` the queue that chose the face; ``blind``
    whether the crowd and the models were hidden until the vote."""

    dataset: str
    face: str
    annotator: str
    emotion: str
    seconds: float | None = None
    strategy: str = "file order"
    blind: bool = True
    cast_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def checked(self) -> Ballot:
        """This ballot with its strings stripped and the emotion spelled as in
        ``VOTE_COLUMNS``; ValueError naming the field that is wrong."""
        emotion = _EMOTIONS.get(self.emotion.strip().lower())
        if emotion is None:
            raise ValueError(f"emotion {self.emotion!r} is not one of {', '.join(VOTE_COLUMNS)}")
        values = {
            "dataset": (self.dataset.strip(), schema.DATASET_LENGTH),
            "face": (self.face.strip(), schema.FACE_LENGTH),
            "annotator": (self.annotator.strip(), schema.ANNOTATOR_LENGTH),
            "strategy": (self.strategy.strip(), schema.STRATEGY_LENGTH),
        }
        for name, (value, length) in values.items():
            if not value or len(value) > length:
                raise ValueError(f"{name} must be 1 to {length} characters, got {value!r}")
        if self.seconds is not None and not self.seconds >= 0:
            raise ValueError(f"seconds must be >= 0 or None, got {self.seconds}")
        return Ballot(
            **{name: value for name, (value, _) in values.items()},
            emotion=emotion,
            seconds=self.seconds,
            blind=bool(self.blind),
            cast_at=self.cast_at,
        )


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    path = Path(url.database or "")
    if not url.database or url.database == ":memory:":
        raise AnnotationsError(f"{shown(url)!r}: an annotations database must be a file; {_WHAT}")
    read_only = url.query.get("mode") == "ro"  # sqlite:///file:PATH?mode=ro&uri=true
    if not read_only:
        if path.exists() and not os.access(path, os.W_OK):
            raise AnnotationsError(f"{path} is read-only; votes cannot be stored. {_FIX_FILE}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise AnnotationsError(f"cannot create the folder of {path}: {error}") from None
    engine = create_engine(url, connect_args={"timeout": busy_timeout}, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below starts each one
        cursor = dbapi_connection.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


_FIX_FILE = f"Make it writable, or point --db / {ENV_VAR} at another file."


def _is_busy(error: DBAPIError) -> bool:
    """A lock held by another writer, a serialization failure or a deadlock: worth a retry."""
    text = str(error.orig).lower()
    code = getattr(error.orig, "sqlstate", None)
    return "locked" in text or "busy" in text or code in ("40001", "40P01")


def _explain(url: URL, error: DBAPIError) -> AnnotationsError:
    text = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    lowered = text.lower()
    where = shown(url)
    if "readonly" in lowered or "read-only" in lowered:
        return AnnotationsError(f"{where} is read-only; votes cannot be stored. {_FIX_FILE}")
    if "not a database" in lowered:
        return AnnotationsError(f"{where} is not an SQLite database. {_FIX_FILE}")
    if "locked" in lowered or "busy" in lowered:
        return AnnotationsError(
            f"{where} is locked by another writer and stayed locked after {RETRIES} tries; "
            "close the program holding it (a long transaction, a database browser) and retry"
        )
    return AnnotationsError(f"cannot use the annotations database {where}: {text}")


class VoteStore:
    """The votes of one annotations database. Open with `VoteStore.open`; every method is one
    transaction, committed (or retried, then refused) before it returns. Safe to share between
    threads; each process opens its own."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(
        cls, target: str | os.PathLike[str] | None = None, busy_timeout: float = BUSY_TIMEOUT_S
    ) -> VoteStore:
        """Connect to ``target`` (see `resolve_url`) and migrate its schema to the newest."""
        url = resolve_url(target)
        try:
            if url.get_backend_name() == "sqlite":
                engine = _sqlite_engine(url, busy_timeout)
            else:
                engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as error:
            raise AnnotationsError(
                f"{shown(url)!r} names no database driver bnnfer has ({error}); {_WHAT}"
            ) from None
        store = cls(engine, url)
        try:
            store._retrying(store._migrate)
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def where(self) -> str:
        """The database as a person may see it (`shown`)."""
        return shown(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> VoteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction, retried while another writer holds the lock or won a
        race for the same row; an `AnnotationsError` when the database refuses."""
        for attempt in range(RETRIES):
            try:
                with self.engine.begin() as connection:
                    return work(connection)
            except IntegrityError:
                if attempt == RETRIES - 1:
                    raise
            except DBAPIError as error:
                if not (isinstance(error, OperationalError) and _is_busy(error)):
                    raise _explain(self.url, error) from None
                if attempt == RETRIES - 1:
                    raise _explain(self.url, error) from None
            time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _migrate(self, connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and current not in known:
            newest = ScriptDirectory.from_config(config).get_current_head()
            raise AnnotationsError(
                f"{self.where} was made by a later bnnfer (schema revision {current}; this one "
                f"knows up to {newest}); upgrade bnnfer to open it"
            )
        command.upgrade(config, "head")

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except DBAPIError as error:
            raise _explain(self.url, error) from None

    # -- writing --------------------------------------------------------------------------

    def cast(self, ballot: Ballot) -> Ballot:
        """Store ``ballot`` as its annotator's current vote on the face (replacing an earlier
        one) and in the history; returns the ballot as stored. ValueError on a bad field."""
        return self.cast_many([ballot])[0]

    def cast_many(self, ballots: Sequence[Ballot]) -> list[Ballot]:
        """`cast` each of ``ballots`` in one transaction: all are stored, or none."""
        checked = [ballot.checked() for ballot in ballots]

        def work(connection: Connection) -> None:
            for ballot in checked:
                _store(connection, ballot)

        self._retrying(work)
        return checked

    def withdraw(
        self, dataset: str, face: str, annotator: str, strategy: str = "undo"
    ) -> str | None:
        """Take back ``annotator``'s current vote on ``face`` (undo), kept in the history as a
        withdrawal; returns the emotion withdrawn, None where there was no vote."""
        key = {"dataset": dataset, "face": face, "annotator": annotator}

        def work(connection: Connection) -> str | None:
            row = connection.execute(
                select(schema.Vote.emotion, schema.Vote.blind).where(*_matching(schema.Vote, key))
            ).first()
            if row is None:
                return None
            connection.execute(delete(schema.Vote).where(*_matching(schema.Vote, key)))
            connection.execute(
                insert(schema.VoteEvent).values(
                    action="withdraw",
                    **key,
                    emotion=None,
                    cast_at=datetime.now(timezone.utc),
                    seconds=None,
                    strategy=strategy,
                    blind=row.blind,
                )
            )
            return row.emotion

        return self._retrying(work)

    # -- reading --------------------------------------------------------------------------

    def votes(self, dataset: str | None = None, annotator: str | None = None) -> pd.DataFrame:
        """The current votes (columns `COLUMNS`), of one dataset and annotator where given,
        in the order they were first cast."""
        table = schema.Vote
        query = select(*(getattr(table, c) for c in COLUMNS)).order_by(table.id)
        if dataset is not None:
            query = query.where(table.dataset == dataset)
        if annotator is not None:
            query = query.where(table.annotator == annotator)
        with self._reading() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame([tuple(row) for row in rows], columns=list(COLUMNS))

    def history(self, dataset: str | None = None) -> pd.DataFrame:
        """Every vote cast and withdrawn, oldest first: ``action`` and `COLUMNS`."""
        table = schema.VoteEvent
        names = ("action", *COLUMNS)
        query = select(*(getattr(table, c) for c in names)).order_by(table.id)
        if dataset is not None:
            query = query.where(table.dataset == dataset)
        with self._reading() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame([tuple(row) for row in rows], columns=list(names))

    def datasets(self) -> list[str]:
        """The datasets that hold a current vote, sorted."""
        with self._reading() as connection:
            found = connection.execute(select(schema.Vote.dataset).distinct()).scalars().all()
        return sorted(found)


def _store(connection: Connection, ballot: Ballot) -> None:
    values = {
        "emotion": ballot.emotion,
        "cast_at": ballot.cast_at,
        "seconds": ballot.seconds,
        "strategy": ballot.strategy,
        "blind": ballot.blind,
    }
    key = {"dataset": ballot.dataset, "face": ballot.face, "annotator": ballot.annotator}
    replaced = connection.execute(
        update(schema.Vote).where(*_matching(schema.Vote, key)).values(**values)
    ).rowcount
    if not replaced:
        connection.execute(insert(schema.Vote).values(**key, **values))
    connection.execute(insert(schema.VoteEvent).values(action="vote", **key, **values))


def _matching(table: type[schema.Vote], key: dict[str, str]) -> list:
    return [getattr(table, name) == value for name, value in key.items()]
