"""The pieces of scale-out on the real PostgreSQL server and a real SQLite file: one leader at a
time per singleton loop with a fast hand-over (stopped, or its lock session killed), migrations
run once by concurrent starters, and a second process on one SQLite file refused at start."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from shared.db import Database, SqliteFileInUse, SqliteFileLock
from shared.leader import Leadership, asyncpg_dsn
from shared.migrations import upgrade
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from shared.supervisor import BackgroundLoop
from tests.support.infra import ROOT, create_postgres_database, drop_postgres_database
from tests.support.kafka import wait_until

GOALS_MIGRATIONS = ROOT / "services" / "goals" / "migrations"


class Probe(BackgroundLoop):
    """A singleton loop that counts how many copies of it run at once, across replicas."""

    running: set[str] = set()
    most_at_once = 0

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.runs = 0

    async def run(self) -> None:
        Probe.running.add(self.name)
        Probe.most_at_once = max(Probe.most_at_once, len(Probe.running))
        self.runs += 1
        try:
            while not self.stopping:
                await self.pause(0.05)
        finally:
            Probe.running.discard(self.name)


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database on the shared server, dropped afterwards."""
    url, name = await create_postgres_database(postgres_server)
    yield url
    await drop_postgres_database(postgres_server, name)


@pytest.mark.postgres
async def test_one_leader_at_a_time_and_a_fast_hand_over(postgres_url: str) -> None:
    Probe.running, Probe.most_at_once = set(), 0
    probes = {name: Probe(name) for name in ("a", "b")}
    leaderships = {n: Leadership(postgres_url, "test:probe", p) for n, p in probes.items()}
    tasks = {n: asyncio.create_task(lead.run()) for n, lead in leaderships.items()}
    try:
        await wait_until(lambda: Probe.running, what="a leader")
        first = next(iter(Probe.running))
        other = "b" if first == "a" else "a"
        await asyncio.sleep(1.5)  # the other retries meanwhile, and keeps failing
        assert Probe.running == {first}

        # A clean stop: the survivor leads within its retry interval (0.5 s) and a bit.
        began = time.monotonic()
        leaderships[first].request_stop()
        await tasks[first]
        await wait_until(lambda: Probe.running == {other}, timeout_s=5, what="the hand-over")
        handed_over_s = time.monotonic() - began
        assert handed_over_s < 1.5, handed_over_s

        # The leader's lock session killed (as if its host were cut off): it stops its loop
        # and competes again; with no rival left it leads again, in a new term.
        conn = await asyncpg.connect(asyncpg_dsn(postgres_url))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'lodestar-leader:test:probe:%'"
            )
        finally:
            await conn.close()
        await wait_until(lambda: leaderships[other].terms == 2, timeout_s=5, what="a new term")
        assert probes[other].runs == 2
        assert Probe.most_at_once == 1, "never two copies at once"
    finally:
        for lead in leaderships.values():
            lead.request_stop()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


@pytest.mark.postgres
async def test_replicas_migrating_together_migrate_once(postgres_url: str) -> None:
    databases = [Database(postgres_url) for _ in range(3)]
    try:
        with capture_logs() as logs:
            await asyncio.gather(*(upgrade(db, GOALS_MIGRATIONS) for db in databases))
    finally:
        for db in databases:
            await db.dispose()
    migrated = [entry for entry in logs if entry["event"] == "migrated"]
    assert len(migrated) == 1, logs
    assert migrated[0]["before"] is None


async def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/goals.db"
    path = str(make_url(url).database)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from shared.db import SqliteFileLock; "
        f"SqliteFileLock({path!r}).acquire(); print('held', flush=True); sys.stdin.read()",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"held"
        runtime = Runtime(ServiceSettings(database_url=url), migrations=GOALS_MIGRATIONS)
        try:
            with pytest.raises(SqliteFileInUse) as refused:
                await runtime.start()
        finally:
            await runtime.stop()
        message = str(refused.value)
        assert f"pid {holder.pid}" in message
        assert "LODESTAR_DATABASE_URL" in message
        assert "PostgreSQL" in message
    finally:
        holder.kill()
        await holder.communicate()
    # The holder gone (however it died), the file is free again.
    lock = SqliteFileLock(path)
    lock.acquire()
    lock.release()
