"""Alembic, driven from code: each service upgrades its own database at start-up.

A service's `migrations/env.py` calls `run_env(target_metadata)`; the connection comes from
`upgrade()` (or `autogenerate()` when a developer writes a new revision), never from an ini
file, so one code path serves the app, the tests and the CLI.

Replicas starting together migrate once: on PostgreSQL the upgrade runs in one transaction
that first takes a transaction-scoped advisory lock, so the others wait for it, then find the
database at head and do nothing (PostgreSQL's DDL is transactional: a replica killed halfway
leaves no half-migrated schema). On SQLite one process owns the file (`shared.db`).

The tables every service has (`shared.tables`) change through `shared.migration_ops`: one
frozen function per version, called from a revision in each service.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import structlog
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text

from shared.db import Database
from shared.leader import lock_key


def _config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


def run_env(target_metadata: list[MetaData]) -> None:
    """The body of every service's `env.py`."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, script_location: Path) -> None:
    """Bring the database up to the newest revision, under the database's migration lock;
    logs `migrated` when this call changed the revision."""
    config = _config(script_location)

    def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
        before = _current_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return before, _current_revision(connection)

    async with db.write_lock(), db.engine.begin() as conn:
        if not db.is_sqlite:
            key = lock_key(f"lodestar-migrations:{script_location.parent.name}")
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        before, after = await conn.run_sync(_upgrade)
    if before != after:
        # A logger resolved now, not cached at import: the configuration in force applies.
        structlog.get_logger(__name__).info(
            "migrated", service=script_location.parent.name, before=before, after=after
        )


async def autogenerate(script_location: Path, message: str, **kwargs: Any) -> None:
    """Write a new revision from the difference between the tables and the migrations."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/autogen.db")
        try:
            await upgrade(db, script_location)
            config = _config(script_location)

            def _revision(connection: Connection) -> None:
                config.attributes["connection"] = connection
                command.revision(config, message=message, autogenerate=True, **kwargs)

            async with db.engine.begin() as conn:
                await conn.run_sync(_revision)
        finally:
            await db.dispose()
