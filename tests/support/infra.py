"""Start the real Kafka broker and PostgreSQL server through the project's own scripts, and
make fresh databases on that server."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from shared.db import Database
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]


def run_script(
    path: str, command: str, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> str:
    """Run one of the project's scripts (`deploy/kafka/kafka.sh start`, ...); the last line it
    printed on stdout ("" if none), or RuntimeError with its output if it failed."""
    done = subprocess.run(
        ["bash", str(ROOT / path), command, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} {command} failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def kafka_bootstrap() -> str:
    """The bootstrap address of the project's broker, started if it is not running."""
    return run_script("deploy/kafka/kafka.sh", "start")


def postgres_url() -> str:
    """The SQLAlchemy URL of the project's PostgreSQL server, installed and started if needed."""
    return run_script("deploy/postgres/postgres.sh", "start")


async def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the server: its URL and its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False), name


async def drop_postgres_database(server_url: str, name: str) -> None:
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def migrated_postgres_database(server_url: str, migrations: Path) -> Iterator[str]:
    """A fresh database migrated to `migrations`' head, dropped on exit: for module-scoped
    fixtures, which run outside the tests' event loop."""

    async def create() -> tuple[str, str]:
        url, name = await create_postgres_database(server_url)
        db = Database(url)
        try:
            await upgrade(db, migrations)
        finally:
            await db.dispose()
        return url, name

    url, name = asyncio.run(create())
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(server_url, name))
