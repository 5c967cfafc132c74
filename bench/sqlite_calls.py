"""What one SQLite statement costs through SQLAlchemy's asyncio engine, by driver.

    .venv/bin/python bench/sqlite_calls.py [--n 2000]

Times, on one SQLite file (WAL, the project's pragmas), N write transactions of 1 and of 10
indexed SELECTs each, through `AsyncSession`:
  - aiosqlite: SQLAlchemy's stock driver (a thread hop per call);
  - inline: `shared.sqlite_inline`, what `shared.db.Database` uses;
  - baseline: the same statements on stdlib `sqlite3`, no SQLAlchemy.
Prints the median and p99 per transaction.

Then, with another connection taking SQLite's write lock for 500 ms of every second (as
another process would), N/10 single-INSERT write transactions on the loop, each setting:
  - busy wait on the loop: a 10 s busy timeout (the setting before), SQLite sleeps on the loop;
  - async retries: `sqlite_inline.BUSY_TIMEOUT_S`, then retries in `asyncio.sleep` pauses.
Prints the transactions' p50/p99 and the longest a 1 ms ticker task waited for the loop; the
same without the other writer is the machine's noise floor.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared import sqlite_inline  # noqa: E402
from shared.db import SQLITE_PRAGMAS, _sqlite_on_connect, create_engine  # noqa: E402

ROWS = 1000


def summary(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {q[49] * 1e3:7.3f} ms   p99 {q[98] * 1e3:7.3f} ms"


async def timed_transactions(engine: AsyncEngine, statements: int, n: int) -> list[float]:
    sessions = async_sessionmaker(engine)
    query = text("SELECT a, b FROM t WHERE a = :a")
    samples = []
    for i in range(n):
        start = time.perf_counter()
        async with sessions() as session, session.begin():
            for j in range(statements):
                (await session.execute(query, {"a": (i + j) % ROWS})).all()
        samples.append(time.perf_counter() - start)
    return samples


def baseline(path: str, statements: int, n: int) -> list[float]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        conn.execute("BEGIN")
        for j in range(statements):
            conn.execute("SELECT a, b FROM t WHERE a = ?", ((i + j) % ROWS,)).fetchall()
        conn.execute("COMMIT")
        samples.append(time.perf_counter() - start)
    conn.close()
    return samples


def aiosqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})

    def on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)
    return engine


def inline_engine(url: str, path: str, busy_timeout_s: float, budget_s: float) -> AsyncEngine:
    connect = partial(sqlite_inline.connect, path, timeout=busy_timeout_s, busy_budget_s=budget_s)
    engine = create_async_engine(url, async_creator=connect)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def hold_the_lock(path: str, stop: threading.Event, hold_s: float = 0.5) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO w (b) VALUES ('other')")
        time.sleep(hold_s)
        conn.execute("COMMIT")
        time.sleep(hold_s)
    conn.close()


async def contended(
    engine: AsyncEngine, path: str, n: int, *, other_writer: bool = True
) -> tuple[list[float], float]:
    """Write transactions while another connection takes the lock; and the loop's longest
    stall, as a 1 ms ticker saw it."""
    sessions = async_sessionmaker(engine)
    stop, done = threading.Event(), asyncio.Event()

    async def ticker() -> float:
        longest = 0.0
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            longest = max(longest, time.perf_counter() - start)
        return longest

    gaps = asyncio.ensure_future(ticker())
    blocker = threading.Thread(target=hold_the_lock, args=(path, stop))
    if other_writer:
        blocker.start()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO w (b) VALUES ('loop')"))
        samples.append(time.perf_counter() - start)
        await asyncio.sleep(0.01)
    stop.set()
    done.set()
    if other_writer:
        blocker.join()
    return samples, await gaps


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/calls.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(ROWS)])
        conn.commit()
        conn.close()
        url = f"sqlite+aiosqlite:///{path}"
        engines: dict[str, Callable[[str], AsyncEngine]] = {
            "aiosqlite (SQLAlchemy's stock driver)": aiosqlite_engine,
            "inline (shared.sqlite_inline)": create_engine,
        }
        print(f"SQLite statements through AsyncSession — {n} transactions each")
        for statements in (1, 10):
            print(f"\n{statements} SELECT(s) per transaction")
            print(f"  {'baseline: stdlib sqlite3':<40}{summary(baseline(path, statements, n))}")
            for label, make in engines.items():
                engine = make(url)
                samples = await timed_transactions(engine, statements, n)
                await engine.dispose()
                print(f"  {label:<40}{summary(samples)}")

        sqlite3.connect(path).execute("CREATE TABLE w (a INTEGER PRIMARY KEY, b TEXT)").close()
        print(f"\n1 INSERT per transaction, another writer locking half the time, n={n // 10}")
        settings = {
            "noise floor: no other writer": (10.0, 0.0),
            "busy wait on the loop (10 s timeout)": (10.0, 0.0),
            f"async retries ({sqlite_inline.BUSY_TIMEOUT_S * 1e3:.0f} ms timeout)": (
                sqlite_inline.BUSY_TIMEOUT_S,
                sqlite_inline.BUSY_BUDGET_S,
            ),
        }
        for label, (busy_timeout_s, budget_s) in settings.items():
            engine = inline_engine(url, path, busy_timeout_s, budget_s)
            other_writer = not label.startswith("noise")
            samples, stall = await contended(engine, path, n // 10, other_writer=other_writer)
            await engine.dispose()
            print(f"  {label:<40}{summary(samples)}   loop stalled up to {stall * 1e3:7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    asyncio.run(main(parser.parse_args().n))
