"""Alerts stored before `alerts.kpi` and `alerts.due_at` existed (revision d5a9c3e1f720):
the upgrade fills the KPI from the labels, so a stored firing alert still inhibits, and makes
what the clock could move before due at once, so the first tick still looks at it; on SQLite
and PostgreSQL. No broker: the storage alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from services.alerts.repository import alerts as repository
from shared.db import Database
from shared.migrations import upgrade
from shared.tables import UtcDateTime
from tests.conftest import DatabaseFactory

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/alerts/migrations"
BEFORE = "b8d2f4a61c39"
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

alerts = sa.table(
    "alerts",
    *(sa.column(c, sa.String) for c in ("tenant", "fingerprint", "rule_id", "subject_kind")),
    *(sa.column(c, sa.String) for c in ("subject", "state")),
    sa.column("updated_at", UtcDateTime),
    sa.column("notified", sa.Boolean),
    sa.column("inhibited", sa.Boolean),
    *(sa.column(c, sa.JSON) for c in ("labels", "annotations", "samples", "silenced_by")),
)


def row(fp: str, kind: str, subject: str, state: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "tenant": "acme",
        "fingerprint": fp,
        "rule_id": "r-1",
        "subject_kind": kind,
        "subject": subject,
        "state": state,
        "updated_at": AT,
        "notified": True,
        "inhibited": False,
        "labels": labels,
        "annotations": {},
        "samples": [],
        "silenced_by": [],
    }


async def test_the_upgrade_fills_kpi_and_due_at(databases: DatabaseFactory) -> None:
    db = Database(await databases.new())
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def seed(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, BEFORE)
        connection.execute(
            alerts.insert(),
            [
                row("f1", "kpi", "churn", "firing", {"alertname": "High", "kpi": "churn"}),
                row("f2", "key_result", "kr-1", "pending", {"key_result": "kr-1", "kpi": "churn"}),
                row("f3", "objective", "o-1", "resolved", {"objective": "o-1"}),
            ],
        )

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(seed)
        await upgrade(db, MIGRATIONS)
        async with db.session() as session:
            firing = await repository.firing_on_kpis(session, {("acme", "churn")})
            due = await repository.rows_due(session, datetime.now(UTC))
        assert set(firing[("acme", "churn")]) == {"f1"}
        assert sorted(r["fingerprint"] for r in due) == ["f1", "f2"], "the active ones"
    finally:
        await db.dispose()
