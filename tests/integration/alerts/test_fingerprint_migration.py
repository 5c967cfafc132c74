"""An alert stored before fingerprints became Alertmanager's is found, with its history and its
pending webhook, under its Alertmanager fingerprint once the service has started on the
upgraded database; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from services.alerts.app import create_app
from shared.db import Database
from shared.settings import Topics
from shared.tables import UtcDateTime
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings
from tests.support.apps import running

pytestmark = pytest.mark.kafka

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/alerts/migrations"
BEFORE = "7f802985ce24"  # the last revision with SHA-256 fingerprints
LABELS = {"alertname": "KpiRed", "kpi": "churn", "severity": "critical", "tenant": "acme"}
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

alerts = sa.table(
    "alerts",
    *(sa.column(c, sa.String) for c in ("tenant", "fingerprint", "rule_id", "subject_kind")),
    *(sa.column(c, sa.String) for c in ("subject", "state")),
    sa.column("value", sa.Float),
    sa.column("started_at", UtcDateTime),
    sa.column("active_since", UtcDateTime),
    sa.column("updated_at", UtcDateTime),
    sa.column("notified", sa.Boolean),
    sa.column("inhibited", sa.Boolean),
    *(sa.column(c, sa.JSON) for c in ("labels", "annotations", "samples", "silenced_by")),
)
history = sa.table(
    "alert_history",
    *(sa.column(c, sa.String) for c in ("tenant", "fingerprint", "kind", "to_state")),
    sa.column("at", UtcDateTime),
)
deliveries = sa.table(
    "webhook_deliveries",
    *(sa.column(c, sa.String) for c in ("id", "tenant", "rule_id", "fingerprint")),
    *(sa.column(c, sa.String) for c in ("alert_status", "url", "secret", "body", "status")),
    sa.column("attempts", sa.Integer),
    *(sa.column(c, UtcDateTime) for c in ("next_attempt_at", "created_at", "updated_at")),
)


def sha256_fingerprint(labels: dict[str, str]) -> str:
    """The fingerprint as the service computed it before."""
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


async def seed_old_schema(url: str, old: str) -> None:
    db = Database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def upgrade_and_seed(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, BEFORE)
        connection.execute(
            alerts.insert().values(
                tenant="acme",
                fingerprint=old,
                rule_id="builtin:kpi_red",
                subject_kind="kpi",
                subject="churn",
                state="firing",
                value=9.0,
                started_at=AT,
                active_since=AT,
                updated_at=AT,
                notified=True,
                inhibited=False,
                labels=LABELS,
                annotations={},
                samples=[],
                silenced_by=[],
            )
        )
        connection.execute(
            history.insert().values(
                tenant="acme", fingerprint=old, kind="transition", to_state="firing", at=AT
            )
        )
        body = {"version": "4", "alerts": [{"labels": LABELS, "fingerprint": old}]}
        connection.execute(
            deliveries.insert().values(
                id="d-1",
                tenant="acme",
                rule_id="r-1",
                fingerprint=old,
                alert_status="firing",
                url="http://127.0.0.1:9/hook",
                secret="s",
                body=json.dumps(body, separators=(",", ":")),
                status="pending",
                attempts=5,
                next_attempt_at=datetime(2100, 1, 1, tzinfo=UTC),
                created_at=AT,
                updated_at=AT,
            )
        )

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade_and_seed)
    finally:
        await db.dispose()


async def test_stored_alerts_move_to_their_alertmanager_fingerprint(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    url = await databases.new()
    old = sha256_fingerprint(LABELS)
    await seed_old_schema(url, old)
    # FNV-1a 64 of the sorted pairs, each name and value followed by 0xff, by hand.
    h = 0xCBF29CE484222325
    for byte in b"".join(
        k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(LABELS.items())
    ):
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    new = f"{h:016x}"
    assert new != old

    settings = alerts_settings(kafka_bootstrap, topics, url, admin_key)
    async with running(create_app(settings), admin_key) as app:
        assert (await app.client.get(f"/v1/alerts/{old}")).status_code == 404
        found = await app.client.get(f"/v1/alerts/{new}")
        assert found.status_code == 200, found.text
        alert = found.json()
        assert alert["fingerprint"] == new
        assert alert["state"] == "firing"
        assert [h["to_state"] for h in alert["history"]] == ["firing"]
        page = (await app.client.get("/v1/webhook-deliveries")).json()
        [delivery] = page["items"]
        assert delivery["fingerprint"] == new
