"""The async database: engine, sessions and the write discipline of each backend.

SQLite is the embedded default (SQLAlchemy's aiosqlite dialect over `shared.sqlite_inline`, no
thread hop per call), PostgreSQL (asyncpg) the production one. SQLite has one writer at a time,
so every writer in the process (API, consumer, outbox relay) goes through
`Database.transaction()`, which serialises them; PostgreSQL needs no such lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Column, event, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared import sqlite_inline

# The one SQLAlchemy name the service layer may use (an import-linter contract): the type of the
# session a use case is handed.
__all__ = [
    "AsyncSession",
    "Database",
    "SqliteFileInUse",
    "SqliteFileLock",
    "binder",
    "bound",
    "create_engine",
    "driver_connection",
    "sqlite_file",
]

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL makes "offsets committed after the DB commit" mean "nothing lost" on power loss;
    # measured free at batch sizes of 1,000 (DESIGN.md).
    "PRAGMA synchronous=FULL",
    # No busy_timeout here: each connection sets its own through `sqlite3.connect(timeout=)`,
    # short on the event loop (`sqlite_inline.BUSY_TIMEOUT_S`, retried in async pauses), long
    # on a thread of its own.
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-65536",
    # SQLite's default, stated: these connections run on the event loop (`sqlite_inline`),
    # and the commit that crosses the threshold copies the WAL back into the database while
    # every task waits; 1,000 pages (4 MB) bound that stall to a few ms.
    "PRAGMA wal_autocheckpoint=1000",
)


# The release whose private internals `driver_connection` was written against: SQLAlchemy's
# asyncpg adapter begins its transaction lazily, at its first statement
# (`AsyncAdapt_asyncpg_connection._transaction` None until `_start_transaction()`).
# tests/unit/test_pinned_internals.py fails while the installed or locked version differs.
WRITTEN_AGAINST = {"sqlalchemy": "2.1.9"}


_DRIVER = "lodestar.driver_connection"


async def driver_connection(session: AsyncSession) -> Any:
    """The driver's own connection under `session`, in the session's transaction: an
    `asyncpg.Connection` on PostgreSQL, a `sqlite_inline.InlineConnection` on SQLite.

    For the statements run once per event (the inbox, the outbox, the relay), where
    SQLAlchemy's per-row work (compiling, bind processing, result rows) cost several times
    the database's own. On SQLite the driver's connection is in the session's transaction
    already (sqlite3 begins it before the first write, SQLAlchemy commits it); on PostgreSQL
    the adapter would BEGIN at its first statement, so a transaction not begun yet is begun
    here, as the adapter does. Errors are the driver's own (`shared.failures` reads those)."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_DRIVER)
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1]
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    if conn.dialect.name == "postgresql":
        adapted: Any = raw.dbapi_connection
        if adapted._transaction is None:
            await adapted._start_transaction()
    # Remembered for the session's transaction, which holds this connection until it ends:
    # asking SQLAlchemy again cost 30 µs a statement (two greenlet hops), 6.7 % of goals'
    # handler at ten tenants. A later transaction of the session asks again.
    session.info[_DRIVER] = (session.sync_session.get_transaction(), raw.driver_connection)
    return raw.driver_connection


_BINDERS: dict[tuple[Column[Any], str], Callable[[Any], Any]] = {}


def binder(session: AsyncSession, column: Column[Any]) -> Callable[[Any], Any]:
    """How SQLAlchemy binds a value to `column` on the session's database (its type's bind
    processing: a `UtcDateTime` is text in UTC on SQLite), for a driver's own statement;
    looked up once per column and database."""
    dialect = session.get_bind().dialect
    process = _BINDERS.get((column, dialect.name))
    if process is None:
        bind = column.type.bind_processor(dialect)
        process = _BINDERS[column, dialect.name] = bind if bind is not None else _same
    return process


def bound(session: AsyncSession, column: Column[Any], value: Any) -> Any:
    """`value` as SQLAlchemy binds it to `column` on the session's database (`binder`)."""
    return binder(session, column)(value)


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`, with SQLite set up for durability and one writer. A failed
    statement's error never shows its parameters (webhook secrets, key hashes): logs and
    `/readyz` carry the SQL only. JSON columns are written and read with msgspec: the same
    values as the standard library's `json` (compact text, UTF-8 kept as is) at a tenth of
    its cost, which was several percent of the alerts consumer's CPU (labels, annotations,
    samples of every alert it reads and writes)."""
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("json_serializer", _json_text)
    kwargs.setdefault("json_deserializer", msgspec.json.decode)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        args, options = SQLiteDialect_aiosqlite().create_connect_args(parsed)
        options = {**options, "timeout": sqlite_inline.BUSY_TIMEOUT_S}
        connect = partial(sqlite_inline.connect, *args, **options)
        engine = create_async_engine(url, async_creator=connect, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class SqliteFileInUse(RuntimeError):
    """Another process holds the SQLite file this service was started on."""


class SqliteFileLock:
    """An exclusive `flock` on `<database>.lock`, held while a service runs on a SQLite file.

    One process per SQLite file: its writers are serialised by an in-process lock, and the
    outbox relay's skipping by sequence number assumes no other process writes (a second one
    could make it delete rows it never published). A second service on the file is refused at
    start; replicas need PostgreSQL. The kernel drops the lock when the process dies, however
    it dies, so a stale lock file never blocks a restart."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SqliteFileInUse(
                f"the SQLite database {self.path.removesuffix('.lock')} is in use by another "
                f"process (pid {holder}); one process per SQLite file. To run several replicas "
                "of a service, set LODESTAR_DATABASE_URL to a PostgreSQL database "
                "(postgresql+asyncpg://user:password@host/name)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory SQLite database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


_WRITTEN = "lodestar.written"


def wrote(session: AsyncSession, what: str) -> None:
    """Note that the session's transaction writes `what` (see `Database.after_writing`)."""
    session.info.setdefault(_WRITTEN, set()).add(what)


class Database:
    """One service's database: an engine, a session factory and the writer lock."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self.after_commit: list[Callable[[], None]] = []
        self._after_writing: dict[str, list[Callable[[], None]]] = {}

    def after_writing(self, what: str, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit of a transaction that `wrote(session, what)`:
        a loop that reads one table wakes for the commits that wrote to it, not for all."""
        self._after_writing.setdefault(what, []).append(callback)

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it never commits."""
        async with self.sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def transaction(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction: committed on exit, rolled back on error.

        This is the boundary that commits (the request, the consumer's batch, the relay);
        code below it adds and flushes but never commits. After a commit the `after_commit`
        callbacks run (the outbox relay's wake-up), and the `after_writing` ones of what the
        transaction `wrote`, unless `notify` is false.
        """
        async with self.write_lock(), self.sessions() as session, session.begin():
            yield session
        if notify:
            for callback in self.after_commit:
                callback()
            for what in session.info.get(_WRITTEN, ()):
                for callback in self._after_writing.get(what, ()):
                    callback()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
