"""A table that fills from empty gets its first statistics from `shared.statistics` as soon
as it has rows, and with them the plan by key that PostgreSQL gets wrong before: goals' KR
write by (tenant, id), on a new database with a thousand KRs of one tenant. PostgreSQL only
(the loop runs there alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.goals.tables import KeyResult
from shared.db import Database
from shared.migrations import upgrade
from shared.statistics import analyze_new_tables
from tests.conftest import DatabaseFactory
from tests.support.kafka import wait_until

pytestmark = pytest.mark.postgres

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/goals/migrations"
AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
KEY_RESULTS = 1000
# The statement `repository.key_results` writes a KR's numbers back with.
UPDATE_BY_KEY = (
    "EXPLAIN UPDATE key_results SET current = 1.0 WHERE tenant = 'acme' AND id = 'kr-0000017'"
)


def key_result(n: int) -> dict[str, object]:
    return {
        "id": f"kr-{n:07d}",
        "tenant": "acme",
        "objective_id": f"o-{n % 10}",
        "cycle_id": "c-1",
        "title": f"KR {n}",
        "description": "",
        "kind": "metric",
        "unit": "",
        "done": False,
        "weight": 1.0,
        "starts_at": AT,
        "due_at": AT,
        "kpi": f"kpi-{n}",
        "state": "open",
        "progress": 0.0,
        "raw_progress": 0.0,
        "status": "on_track",
        "score_overridden": False,
        "created_at": AT,
        "updated_at": AT,
    }


async def analyzed(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                "OR last_autoanalyze IS NOT NULL"
            )
        )
        return set(rows.scalars())


async def plan(db: Database) -> str:
    async with db.engine.connect() as conn:
        return "\n".join((await conn.execute(sa.text(UPDATE_BY_KEY))).scalars())


async def test_a_filled_table_is_analyzed_and_written_by_its_key(
    postgres_databases: DatabaseFactory,
) -> None:
    db = Database(await postgres_databases.new())
    try:
        await upgrade(db, MIGRATIONS)
        async with db.engine.begin() as conn:
            table = KeyResult.__table__  # type: ignore[attr-defined]
            await conn.execute(sa.insert(table), [key_result(n) for n in range(KEY_RESULTS)])

        # The server counts a backend's writes when it flushes its statistics (at most once a
        # second): asked until then. The only table with rows enough: the empty ones and
        # alembic_version's one row wait.
        done = await wait_until(
            lambda: analyze_new_tables(db, min_rows=100), timeout_s=10, what="a table analyzed"
        )
        assert done == ["key_results"]
        assert "key_results" in await analyzed(db)
        found = await plan(db)
        assert "Index Scan using key_results_pkey" in found, found
        assert "Index Cond: ((id)::text = 'kr-0000017'::text)" in found, found
        # Analyzed once: autovacuum keeps it from there, the loop leaves it alone.
        assert await analyze_new_tables(db, min_rows=100) == []
    finally:
        await db.dispose()
