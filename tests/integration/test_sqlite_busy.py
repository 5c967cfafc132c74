"""A SQLite file locked by another writer never holds the event loop for long: inline
statements wait for the lock in async pauses (`shared.sqlite_inline`), then go through."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shared import sqlite_inline
from shared.db import Database


@pytest.fixture
def path(tmp_path: Path) -> str:
    return f"{tmp_path}/busy.db"


@pytest.fixture
async def db(path: str) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY)"))
    yield database
    await database.dispose()


@pytest.fixture
def other_writer(path: str, db: Database) -> Iterator[sqlite3.Connection]:
    """Another connection (as another process would be) holding SQLite's write lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    yield conn
    conn.close()


async def longest_gap(until: asyncio.Event) -> float:
    """The longest the loop left a 1 ms ticker waiting, until `until` is set."""
    longest = 0.0
    while not until.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        longest = max(longest, time.perf_counter() - start)
    return longest


async def test_a_write_waits_for_the_lock_without_holding_the_loop(
    db: Database, other_writer: sqlite3.Connection
) -> None:
    async def insert() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))

    done = asyncio.Event()
    ticker = asyncio.ensure_future(longest_gap(done))
    await asyncio.sleep(0.01)
    # The other writer commits 0.5 s from now, from its own thread (as another process would).
    release = threading.Timer(0.5, other_writer.execute, ["COMMIT"])
    release.start()
    write = asyncio.ensure_future(insert())
    await asyncio.sleep(0.3)
    assert not write.done()  # still waiting for the lock
    await asyncio.wait_for(write, 5)
    done.set()
    release.join()
    # With SQLite's busy wait on the loop (10 s before), the ticker would have waited ~0.5 s.
    assert await ticker < 0.2
    async with db.session() as session:
        stored = (await session.execute(text("SELECT a FROM t ORDER BY a"))).scalars().all()
    assert stored == [1, 2]


async def test_a_lock_held_past_the_budget_is_sqlite_busy(
    path: str, other_writer: sqlite3.Connection
) -> None:
    conn = await sqlite_inline.connect(
        path, timeout=sqlite_inline.BUSY_TIMEOUT_S, busy_budget_s=0.3
    )
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError) as refused:
        await conn.cursor().execute("INSERT INTO t VALUES (3)")
    assert refused.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert 0.3 <= time.monotonic() - started < 2
    await conn.close()


async def test_a_stale_snapshot_is_raised_at_once(db: Database, path: str) -> None:
    """A read transaction overtaken by another writer can never write (SQLITE_BUSY_SNAPSHOT):
    waiting would not help, so it fails at once."""
    conn = await sqlite_inline.connect(
        path, timeout=sqlite_inline.BUSY_TIMEOUT_S, isolation_level=None
    )
    cursor = conn.cursor()
    await cursor.execute("BEGIN")
    await cursor.execute("SELECT a FROM t")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("INSERT INTO t VALUES (4)")
    other.close()
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError) as refused:
        await cursor.execute("INSERT INTO t VALUES (5)")
    assert refused.value.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"
    assert time.monotonic() - started < 0.1
    await conn.close()
