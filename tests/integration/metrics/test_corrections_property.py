"""Corrections against a brute-force model (hypothesis), through the real writers on SQLite
and PostgreSQL: measurements, restatements (revisions 0-3, which may move a point to another
KPI or period) and retractions of a few identities, in any order, split into batches anyhow.

The model says what the stored state must be whatever the order: a retracted identity counts
nowhere; otherwise its version is the first delivery of its highest revision. Each period's
rollup must be that version's aggregate, and the `kpi.value` events written for a period must
be strictly increasing in (revision, count, last_at), the order consumers keep: so the last
one written, the one a consumer keeps, says the rollup."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

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
from shared.tables import infra_metadata
from tests.integration.metrics.test_rollups_property import (
    BASE,
    KPIS,
    MIGRATIONS,
    micros,
    seed_sql,
    start_of,
)
from tests.support.infra import migrated_postgres_database

decode = measurement_decoder(64 * 1024)

Event = tuple[str, str, int, str, datetime, float, int]
"""(kind "m" or "r", source, id, kpi, time, value, revision)"""

event = st.tuples(
    st.sampled_from(["m", "m", "m", "r"]),
    st.sampled_from(["crm", "billing"]),
    st.integers(0, 6),  # few identities: each is corrected often
    st.sampled_from(sorted(KPIS)),
    st.integers(0, 10 * 24).map(lambda h: BASE + timedelta(hours=h)),
    st.integers(-1000, 1000).map(float),  # exact sums, so totals compare equal
    st.integers(0, 3),
)
deliveries = st.lists(event, max_size=40)
cuts = st.lists(st.integers(0, 40), max_size=6)


def record(tenant: str, offset: int, e: Event) -> Any:
    kind, source, n, kpi, at, value, revision = e
    data: dict[str, Any] = {"value": value}
    if revision:
        data["revision"] = revision
    body = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": f"e{n}",
        "source": source,
        "time": at.isoformat(),
        "subject": kpi,
        "tenant": tenant,
        "data": data,
    }
    if kind == "r":
        body |= {
            "type": "lodestar.kpi.measurement.retracted.v1",
            "id": str(uuid.uuid4()),
            "source": "corrector",
            "data": {"source": source, "id": f"e{n}"},
        }
    raw = json.dumps(body).encode()
    return ConsumerRecord("t", 0, offset, 0, 0, None, raw, None, 0, len(raw), ())


def batches(tenant: str, events: list[Event], cut_at: list[int]) -> Iterator[list[Inbound]]:
    items = [decode(record(tenant, i, e)) for i, e in enumerate(events)]
    bounds = sorted({0, len(items), *(c for c in cut_at if c < len(items))})
    for lo, hi in pairwise(bounds):
        yield items[lo:hi]


def expected(events: list[Event]) -> dict[tuple[str, int], tuple[Any, ...]]:
    retracted = {(source, n) for kind, source, n, *_ in events if kind == "r"}
    chosen: dict[tuple[str, int], tuple[int, str, datetime, float]] = {}
    for kind, source, n, kpi, at, value, revision in events:
        if kind == "r" or (source, n) in retracted:
            continue
        kept = chosen.get((source, n))
        if kept is None or revision > kept[0]:
            chosen[(source, n)] = (revision, kpi, at, value)
    groups: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
    for _, kpi, at, value in chosen.values():
        groups.setdefault((kpi, micros(start_of(kpi, at, "UTC"))), []).append((at, value))
    result = {}
    for key, points in groups.items():
        values = [value for _, value in points]
        last_at, last_value = max(points)
        result[key] = (len(values), sum(values), min(values), max(values), last_value, last_at)
    return result


ROLLUPS = (
    "SELECT kpi, period_start, count, total, minimum, maximum, last_value, last_at, revision"
    " FROM rollups WHERE tenant = {}"
)
OUTBOX = "SELECT payload FROM outbox WHERE key LIKE {} ORDER BY seq"


def check(rows: list[Any], payloads: list[bytes], events: list[Event]) -> None:
    want = expected(events)
    got = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    empty = {key for key, row in got.items() if row[0] == 0}
    assert set(got) - empty == set(want)
    for key in empty:  # every point retracted: the merge's neutral elements, for any later
        assert got[key][:6] == (0, 0.0, float("inf"), float("-inf"), 0.0, -1)
    for key, (n, total, lo, hi, last_value, last_at) in want.items():
        count, stored_total, minimum, maximum, stored_last_value, stored_last_at, _ = got[key]
        assert (count, stored_total, minimum, maximum) == (n, total, lo, hi)
        assert (stored_last_at, stored_last_value) == (micros(last_at), last_value)
    # Per period, in the order written: strictly increasing (revision, count, last_at); the
    # last says the rollup as stored.
    published: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for payload in payloads:
        data = json.loads(payload)["data"]
        start = micros(datetime.fromisoformat(data["period_start"]))
        published.setdefault((data["kpi"], start), []).append(data)
    assert set(published) == set(got)
    for key, values in published.items():
        order = [(d["revision"], d["count"], datetime.fromisoformat(d["last_at"])) for d in values]
        assert all(a < b for a, b in pairwise(order)), order
        last, row = values[-1], got[key]
        assert (last["count"], last["revision"]) == (row[0], row[6])
        if row[0]:
            assert (last["value"], last["last_value"]) == (row[1], row[4])  # a `sum` KPI
        else:
            assert (last["value"], last["health"]) == (0.0, "no_data")


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("corrections") / "metrics.db")
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
    @given(events=deliveries, cut_at=cuts)
    def test_corrections_equal_the_model_in_any_order(
        self, path: str, events: list[Event], cut_at: list[int]
    ) -> None:
        tenant = f"t{uuid.uuid4().hex[:10]}"  # each example its own tenant: no clean-up needed
        with sqlite3.connect(path) as db:
            for sql, args in seed_sql(tenant, "UTC"):
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
            payloads = [p for (p,) in db.execute(OUTBOX.format("?"), (f"{tenant}/%",))]
        check(rows, payloads, events)


class TestPostgres:
    @pytest.mark.postgres
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=deliveries, cut_at=cuts)
    def test_corrections_equal_the_model_in_any_order(
        self, url: str, events: list[Event], cut_at: list[int]
    ) -> None:
        tenant = f"t{uuid.uuid4().hex[:10]}"

        async def run() -> tuple[list[Any], list[bytes]]:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                for sql, args in seed_sql(tenant, "UTC"):
                    await conn.execute(sql.format(*[f"${i + 1}" for i in range(len(args))]), *args)
            finally:
                await conn.close()
            # Two writers, as two processes one after the other (what each remembers storing
            # differs; a correction must not be mistaken for a redelivery by either).
            writers = [PostgresWriter(url, topic="values", source="tests") for _ in range(2)]
            try:
                for i, batch in enumerate(batches(tenant, events, cut_at)):
                    assert await writers[i % 2].store(batch) == []
            finally:
                for writer in writers:
                    await writer.close()
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                rows = list(await conn.fetch(ROLLUPS.format("$1"), tenant))
                outbox = await conn.fetch(OUTBOX.format("$1"), f"{tenant}/%")
                return rows, [bytes(r[0]) for r in outbox]
            finally:
                await conn.close()

        check(*asyncio.run(run()), events)
