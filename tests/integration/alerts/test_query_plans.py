"""The statements evaluation runs per batch find each row by its key on a table that has no
statistics yet: a new database, before autovacuum has analyzed the first alerts. There
PostgreSQL estimates every condition at one row, so an index matching only `tenant` looks as
good as the key: when `ix_alerts_kpi` began with `tenant`, the planner took it for the UPDATE
by key, and it read IN lists per column as "the tenant's rows, filtered"; every alert
stepped scanned the tenant's alerts (alerts fell seconds behind in `bench/e2e_latency.py
--db postgres`). The repository's own statements, as SQLAlchemy sent them, asked of the
database's planner (EXPLAIN), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts.repository import alerts as alert_rows
from services.alerts.repository import kpi_periods
from services.alerts.tables import Alert, KpiLatestPeriod
from shared.db import Database, driver_connection
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/alerts/migrations"
AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
ALERTS = 2000  # of one tenant, beside 50 of another


def alert(tenant: str, n: int) -> dict[str, object]:
    return {
        "tenant": tenant,
        "fingerprint": f"f{n:07d}",
        "rule_id": f"r-{n}",
        "subject_kind": "kpi",
        "subject": f"kpi-{n}",
        "state": "firing" if n % 2 else "resolved",
        "kpi": f"kpi-{n}",
        "notified": False,
        "inhibited": False,
        "labels": {"alertname": "High", "kpi": f"kpi-{n}"},
        "annotations": {},
        "samples": [],
        "silenced_by": [],
        "due_at": AT,
        "updated_at": AT,
    }


def period(tenant: str, n: int) -> dict[str, object]:
    return {
        "tenant": tenant,
        "kpi": f"kpi-{n}",
        "period_start": AT,
        "period_end": AT,
        "updated_at": AT,
    }


async def sent_by(
    db: Database, call: Callable[[AsyncSession], Awaitable[object]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (and their parameters) `call` sent on the driver's connection, where
    the repository runs them (`shared.prepared`), in a transaction rolled back after. SQLite
    spells the parameters into the statement it reports. `call` runs once before, unheard: a
    first run on PostgreSQL also asks for the types of the result (asyncpg's introspection)."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def heard(query: Any) -> None:  # an executemany's arguments: its rows; the first is kept
        args = query.args
        sent.append((query.query, args[0] if args and isinstance(args[0], tuple) else args))

    async with db.session() as session:
        await call(session)
        await session.rollback()
        conn = await driver_connection(session)
        if db.is_sqlite:
            await conn.set_trace_callback(lambda sql: sent.append((sql, ())))
        else:
            conn.add_query_logger(heard)
        try:
            await call(session)
        finally:
            if db.is_sqlite:
                await conn.set_trace_callback(None)
            else:
                conn.remove_query_logger(heard)
        await session.rollback()
    skipped = ("BEGIN", "ROLLBACK", "COMMIT", "SAVEPOINT", "RELEASE")
    return [(s, p) for s, p in sent if not s.lstrip().upper().startswith(skipped)]


async def plan_of(db: Database, statement: str, parameters: tuple[Any, ...]) -> str:
    async with db.session() as session:
        conn = await driver_connection(session)
        if db.is_sqlite:
            cursor = conn.cursor()
            await cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            rows = await cursor.fetchall()
        else:
            rows = await conn.fetch("EXPLAIN " + statement, *parameters)
    return "\n".join(str(row[-1]) for row in rows)


async def test_a_batch_finds_its_rows_by_key_before_any_statistics(
    databases: DatabaseFactory,
) -> None:
    db = Database(await databases.new())
    try:
        await upgrade(db, MIGRATIONS)
        async with db.engine.begin() as conn:
            for tenant, count in (("acme", ALERTS), ("other", 50)):
                await conn.execute(
                    sa.insert(Alert.__table__),  # type: ignore[attr-defined]
                    [alert(tenant, n) for n in range(count)],
                )
                await conn.execute(
                    sa.insert(KpiLatestPeriod.__table__),  # type: ignore[attr-defined]
                    [period(tenant, n) for n in range(count)],
                )
        keys = [("acme", f"f{n:07d}") for n in (17, 18, 19)]
        kpis = [("acme", f"kpi-{n}") for n in (17, 18, 19)]
        # Each call and how many statements it sends on SQLite: a read is one statement for
        # the batch (its keys as one JSON array, joined as the outer loop), a write one
        # statement per key; on PostgreSQL every call is one statement for all keys.
        calls: list[tuple[Callable[[AsyncSession], Awaitable[object]], int]] = [
            (lambda s: alert_rows.rows_by_fingerprint(s, keys), 1),
            (
                lambda s: alert_rows.update_rows(
                    s, [{"tenant": t, "fingerprint": f, "state": "resolved"} for t, f in keys]
                ),
                len(keys),
            ),
            (lambda s: kpi_periods.of(s, kpis), 1),
        ]
        for call, on_sqlite in calls:
            statements = await sent_by(db, call)
            assert len(statements) == (on_sqlite if db.is_sqlite else 1), statements
            for statement in statements:
                found = await plan_of(db, *statement)
                if db.is_sqlite:
                    steps = found.splitlines()
                    if "json_each" in statement[0]:
                        assert len(steps) == 2, found
                        assert "SCAN keys" in steps[0], found
                    search = steps[-1]
                    assert "USING INDEX sqlite_autoindex" in search, found
                    assert "(tenant=? AND " in search, f"both key columns looked up: {found}"
                else:
                    assert "_pkey" in found, found
                    assert "Filter" not in found, f"both key columns looked up: {found}"
                    assert "Seq Scan on alerts" not in found, found
    finally:
        await db.dispose()
