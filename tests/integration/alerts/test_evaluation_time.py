"""An evaluation is stamped with a time read after what it read (`Evaluator._read_clock`).

Two evaluations run side by side: one reads the clock, then (waiting for the write lock, or
for a row the other holds) sees the other's commit, made at a later time. Stamped with its
first reading, its events would precede their cause: a key result's alert, freed by its KPI's
alert resolving, would fire before the resolution; an alert resolved by progress would end
before it started. Here the interleaving is made by hand: the evaluation is built (its clock
read), another transaction commits through the service's own handler, and only then does the
evaluation load and step. Both backends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, SecretStr
from sqlalchemy import text

from services.alerts import handlers
from services.alerts.handlers import evaluation_handler
from services.alerts.service.evaluator import Evaluator
from services.alerts.settings import AlertsSettings
from shared.db import Database
from shared.events import KPI_VALUE_V1, KR_PROGRESS_V1, KpiValueV1, KrProgressV1, new_event
from shared.inbound import Inbound
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory
from tests.integration.alerts.test_due_migration import MIGRATIONS

TENANT = "acme"
START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def inbound(type_: str, subject: str, data: BaseModel, at: datetime) -> Inbound:
    event = new_event(type=type_, source="tests/time", tenant=TENANT, subject=subject, data=data)
    event = event.model_copy(update={"time": at})
    record = ConsumerRecord("t", 0, 0, 0, 0, subject.encode(), b"", None, 0, 0, [])
    return Inbound(record, event, data)


def churn(health: str, at: datetime) -> Inbound:
    value = 9.0 if health == "red" else 1.0
    payload = KpiValueV1(
        kpi="churn",
        period="day",
        period_start=START,
        period_end=START + timedelta(days=1),
        aggregation="last",
        value=value,
        count=1,
        last_value=value,
        last_at=at,
        health=health,
    )
    return inbound(KPI_VALUE_V1, "churn", payload, at)


def kr_1(status: str, at: datetime) -> Inbound:
    return inbound(KR_PROGRESS_V1, "kr-1", progress(status), at)


def progress(status: str) -> KrProgressV1:
    return KrProgressV1(
        key_result_id="kr-1",
        objective_id="obj-1",
        cycle_id="cyc-1",
        title="Cut churn",
        kind="decrease",
        current=0.1,
        progress=0.1,
        raw_progress=0.1,
        expected=0.5,
        status=status,
        kpi="churn",
    )


async def published(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """The `alerts` events in the outbox, in order: (firing|resolved, alertname, event)."""
    async with db.session() as session:
        rows = await session.execute(text("SELECT payload FROM outbox ORDER BY seq"))
        events = [json.loads(bytes(payload)) for (payload,) in rows]
    return [
        (e["type"].split(".")[-2], e["data"]["labels"]["alertname"], e)
        for e in events
        if e["type"].startswith("lodestar.alert.")
    ]


def at(event: dict[str, Any], field: str = "time") -> datetime:
    return datetime.fromisoformat(event[field] if field == "time" else event["data"][field])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The handler's clock, and the evaluation's under test: set by hand."""
    now = [START]
    monkeypatch.setattr(handlers, "utcnow", lambda: now[0])
    return now


async def started(url: str) -> tuple[Database, AlertsSettings]:
    settings = AlertsSettings(
        database_url=url, secret_key=SecretStr("x" * 43), bootstrap_tenant=TENANT
    )
    db = Database(url)
    await upgrade(db, MIGRATIONS)
    return db, settings


async def test_a_tick_that_read_the_clock_before_a_resolution_it_sees_fires_after_it(
    databases: DatabaseFactory, clock: list[datetime]
) -> None:
    db, settings = await started(await databases.new())
    try:
        handle = evaluation_handler(db, settings)
        clock[0] = START + SECOND
        await handle([churn("red", clock[0])])
        await handle([kr_1("off_track", clock[0])])  # fires, inhibited by KpiRed
        assert [(s, n) for s, n, _ in await published(db)] == [("firing", "KpiRed")]

        async with db.sessions() as session, session.begin():
            clock[0] = START + 10 * SECOND
            tick = Evaluator(session, settings, lambda: clock[0])  # reads 00:00:10
            clock[0] = START + 11 * SECOND
            await handle([churn("green", clock[0])])  # commits the resolution at 00:00:11
            clock[0] = START + 12 * SECOND
            await tick.tick()  # sees it: kr-1 is no longer inhibited

        events = {(s, n): e for s, n, e in await published(db)}
        assert set(events) == {
            ("firing", "KpiRed"),
            ("resolved", "KpiRed"),
            ("firing", "KeyResultOffTrack"),
        }
        resolved, freed = events[("resolved", "KpiRed")], events[("firing", "KeyResultOffTrack")]
        assert at(resolved) == START + 11 * SECOND
        assert at(freed) == START + 12 * SECOND
    finally:
        await db.dispose()


async def test_a_batch_that_read_the_clock_before_a_firing_it_sees_resolves_after_it(
    databases: DatabaseFactory, clock: list[datetime]
) -> None:
    db, settings = await started(await databases.new())
    try:
        handle = evaluation_handler(db, settings)
        async with db.sessions() as session, session.begin():
            clock[0] = START + 10 * SECOND
            batch = Evaluator(session, settings, lambda: clock[0])  # reads 00:00:10
            clock[0] = START + 11 * SECOND
            await handle([kr_1("off_track", clock[0])])  # commits the firing at 00:00:11
            clock[0] = START + 12 * SECOND
            payload = progress("on_track")
            event = kr_1("on_track", clock[0]).event
            await batch.prepare([(event, payload)])
            await batch.kr_progress(event, payload)
            await batch.flush()

        events = [(s, n, e) for s, n, e in await published(db) if n == "KeyResultOffTrack"]
        assert [s for s, _, _ in events] == ["firing", "resolved"]
        fired, resolved = events[0][2], events[1][2]
        assert at(fired) == at(fired, "startsAt") == START + 11 * SECOND
        assert at(resolved) == at(resolved, "endsAt") == START + 12 * SECOND
        assert at(resolved, "startsAt") == START + 11 * SECOND
    finally:
        await db.dispose()
