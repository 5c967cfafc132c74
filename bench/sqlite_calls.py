"""What one SQLite statement costs through SQLAlchemy's asyncio engine, by driver.

    .venv/bin/python bench/sqlite_calls.py [--n 2000]

Times, on one SQLite file (WAL, the project's pragmas), N write transactions of 1 and of 10
indexed SELECTs each, through `AsyncSession`:
  - aiosqlite: SQLAlchemy's stock driver (a thread hop per call);
  - inline: `shared.sqlite_inline`, what `shared.db.Database` uses;
  - baseline: the same statements on stdlib `sqlite3`, no SQLAlchemy.
Prints the median and p99 per transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.db import SQLITE_PRAGMAS, create_engine  # noqa: E402

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    asyncio.run(main(parser.parse_args().n))
