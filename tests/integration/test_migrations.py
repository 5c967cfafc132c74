"""Each service's migrations make the schema its tables declare, take it all down again and
bring it back up; on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("goals", "metrics", "alerts")


def differences(connection: Connection, metadata: list[MetaData]) -> list[object]:
    """What autogenerate would write: the tables' declaration against the migrated schema."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def downgrade_to_base(connection: Connection, migrations: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_make_the_declared_schema_and_take_it_down_again(
    service: str, databases: DatabaseFactory
) -> None:
    migrations = ROOT / "services" / service / "migrations"
    metadata: list[MetaData] = importlib.import_module(f"services.{service}.tables").metadata
    declared = sorted(table for md in metadata for table in md.tables)
    db = Database(await databases.new())
    try:
        await upgrade(db, migrations)
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, metadata) == []
            await conn.run_sync(downgrade_to_base, migrations)
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert tables == ["alembic_version"]

        await upgrade(db, migrations)
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, metadata) == []
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert sorted(tables) == sorted([*declared, "alembic_version"])
    finally:
        await db.dispose()
