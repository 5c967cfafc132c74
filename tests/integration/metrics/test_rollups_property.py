"""Rollups against a brute-force recomputation from the raw points (hypothesis), through the
real hot-path writers on SQLite and PostgreSQL: any split into batches, duplicates within and
across batches, late points, ties in time, tenants in timezones whose clocks change inside the
ten days (Berlin on 29 March, Lord Howe by half an hour on 5 April)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from services.metrics.codec import measurement_decoder
from services.metrics.ingest.postgres import PostgresWriter, asyncpg_dsn
from services.metrics.ingest.sqlite import SqliteWriter
from services.metrics.tables import MetricsTable
from shared.inbound import Inbound
from shared.periods import Period
from shared.tables import infra_metadata
from tests.support.infra import migrated_postgres_database

BASE = datetime(2026, 3, 28, tzinfo=UTC)  # a month and a quarter boundary inside 10 days
KPIS = {"daily": Period.DAY, "weekly": Period.WEEK, "monthly": Period.MONTH}
MIGRATIONS = Path(__file__).resolve().parents[3] / "services/metrics/migrations"

decode = measurement_decoder(64 * 1024)

event = st.tuples(
    st.sampled_from(["crm", "billing"]),  # source
    st.integers(0, 25),  # id: small, so the same identity recurs
    st.sampled_from(sorted(KPIS)),
    st.integers(0, 10 * 24 * 4).map(lambda q: BASE + timedelta(minutes=15 * q)),  # ties likely
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
deliveries = st.lists(event, max_size=60)
timezones = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
cuts = st.lists(st.integers(0, 60), max_size=6)


def record(tenant: str, offset: int, e: tuple[str, int, str, datetime, float]) -> Any:
    source, n, kpi, at, value = e
    body = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": f"e{n}",
        "source": source,
        "time": at.isoformat(),
        "subject": kpi,
        "tenant": tenant,
        "data": {"value": value},
    }
    value_bytes = json.dumps(body).encode()
    return ConsumerRecord("t", 0, offset, 0, 0, None, value_bytes, None, 0, len(value_bytes), ())


def batches(tenant: str, events: list[Any], cut_at: list[int]) -> Iterator[list[Inbound]]:
    items = [decode(record(tenant, i, e)) for i, e in enumerate(events)]
    bounds = sorted({0, len(items), *(c for c in cut_at if c < len(items))})
    for lo, hi in pairwise(bounds):
        yield items[lo:hi]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def start_of(kpi: str, at: datetime, tz: str) -> datetime:
    """The rules, by the tenant's local calendar: days from local midnight, ISO weeks from
    Monday, months from the first (a naive local midnight placed in the zone); written here,
    not taken from the code under test."""
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    first = date(local.year, local.month, local.day if kpi != "monthly" else 1)
    if kpi == "weekly":
        year, week, _ = local.isocalendar()
        first = date.fromisocalendar(year, week, 1)
    assert kpi in ("daily", "weekly", "monthly")
    return datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)


def expected(events: list[Any], tz: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Brute force: the first delivery of each (source, id) is the stored one; each period's
    count, sum, min, max and its last point (latest time, the larger value on a tie)."""
    first: dict[tuple[str, int], tuple[str, datetime, float]] = {}
    for source, n, kpi, at, value in events:
        first.setdefault((source, n), (kpi, at, value))
    groups: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
    for kpi, at, value in first.values():
        groups.setdefault((kpi, micros(start_of(kpi, at, tz))), []).append((at, value))
    result = {}
    for key, points in groups.items():
        values = [value for _, value in points]
        last_at, last_value = max(points)
        result[key] = (len(values), sum(values), min(values), max(values), last_value, last_at)
    return result


def check(rows: list[Any], events: list[Any], tz: str) -> None:
    want = expected(events, tz)
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert set(got) == set(want)
    for key, (n, total, lo, hi, last_value, last_at) in want.items():
        count, stored_total, minimum, maximum, stored_last_value, stored_last_at = got[key]
        assert count == n
        assert stored_total == pytest.approx(total, rel=1e-9, abs=1e-6)
        assert (minimum, maximum) == (lo, hi)
        assert (stored_last_at, stored_last_value) == (micros(last_at), last_value)


ROLLUPS = (
    "SELECT kpi, period_start, count, total, minimum, maximum, last_value, last_at"
    " FROM rollups WHERE tenant = {}"
)


def seed_sql(tenant: str, tz: str) -> list[tuple[str, tuple[Any, ...]]]:
    now = datetime.now(UTC)
    out: list[tuple[str, tuple[Any, ...]]] = [
        (
            "INSERT INTO tenants (slug, name, timezone, created_at) VALUES ({0}, {1}, {2}, {3})",
            (tenant, tenant, tz, now),
        ),
    ]
    for key, period in KPIS.items():
        out.append(
            (
                "INSERT INTO kpis (tenant, key, name, unit, description, what, why, how, owner,"
                " aggregation, period, direction, tags, created_at, updated_at) VALUES"
                " ({0}, {1}, {2}, '', '', '', '', '', '', 'sum', {3}, 'higher', '[]', {4}, {5})",
                (tenant, key, key, str(period), now, now),
            )
        )
    return out


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("rollups") / "metrics.db")
    engine = create_engine(f"sqlite:///{path}")
    MetricsTable.metadata.create_all(engine)
    infra_metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def url(postgres_server: str) -> Iterator[str]:
    with migrated_postgres_database(postgres_server, MIGRATIONS) as url:
        yield url


class TestSqlite:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=deliveries, cut_at=cuts, tz=timezones)
    def test_rollups_equal_a_recomputation_from_the_points(
        self, path: str, events: list[Any], cut_at: list[int], tz: str
    ) -> None:
        tenant = f"t{uuid.uuid4().hex[:10]}"  # each example its own tenant: no clean-up needed
        with sqlite3.connect(path) as db:
            for sql, args in seed_sql(tenant, tz):
                fixed = tuple(
                    a.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(a, datetime) else a
                    for a in args
                )
                db.execute(sql.format(*["?"] * len(fixed)), fixed)
        writer = SqliteWriter(path, topic="values", source="tests")
        for batch in batches(tenant, events, cut_at):
            assert writer._store(batch) == []
        with sqlite3.connect(path) as db:
            rows = db.execute(ROLLUPS.format("?"), (tenant,)).fetchall()
        check(rows, events, tz)


class TestPostgres:
    @pytest.mark.postgres
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=deliveries, cut_at=cuts, tz=timezones)
    def test_rollups_equal_a_recomputation_from_the_points(
        self, url: str, events: list[Any], cut_at: list[int], tz: str
    ) -> None:
        tenant = f"t{uuid.uuid4().hex[:10]}"

        async def run() -> list[Any]:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                for sql, args in seed_sql(tenant, tz):
                    await conn.execute(sql.format(*[f"${i + 1}" for i in range(len(args))]), *args)
            finally:
                await conn.close()
            # Two writers, as two service processes one after the other: each drops the
            # redeliveries it remembers storing, and COPYs the rest; a point the other one
            # stored makes that COPY fail and the batch take the set-based path.
            writers = [PostgresWriter(url, topic="values", source="tests") for _ in range(2)]
            try:
                for i, batch in enumerate(batches(tenant, events, cut_at)):
                    assert await writers[i % 2].store(batch) == []
            finally:
                for writer in writers:
                    await writer.close()
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                return list(await conn.fetch(ROLLUPS.format("$1"), tenant))
            finally:
                await conn.close()

        check(asyncio.run(run()), events, tz)
