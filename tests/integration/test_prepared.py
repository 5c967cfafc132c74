"""Statements run on the driver's connection (`shared.prepared`) write and read the values
SQLAlchemy itself writes and reads (the reference here: the same table through a session), in
the session's transaction, on SQLite and PostgreSQL; what they cannot do is refused when
they are first run, not half done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from shared.db import Database
from shared.prepared import Prepared
from shared.sql import KeyLookup
from shared.tables import UtcDateTime
from tests.conftest import DatabaseFactory

metadata = MetaData()
probe = Table(
    "prepared_probe",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("at", UtcDateTime, nullable=True),
    Column("labels", JSON, nullable=False),
    Column("on", Boolean, nullable=False),
    Column("value", Float, nullable=True),
    Column("kind", String(16), nullable=False, default="plain"),
)
NAMES = ("tenant", "name", "at", "labels", "on", "value")
PARIS = timezone(timedelta(hours=1))


def row(tenant: str, n: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "name": f"n{n}",
        "at": datetime(2026, 12, 5, 17, n, 1, 250 * n, tzinfo=PARIS) if n % 3 else None,
        "labels": {"kpi": f"kpi-{n}", "note": "é ☃"},
        "on": bool(n % 2),
        "value": n / 7 if n % 4 else None,
        "kind": "plain",
    }


def in_utc(wanted: dict[str, Any]) -> tuple[Any, ...]:
    at = wanted["at"]
    return tuple(at.astimezone(UTC) if k == "at" and at else wanted[k] for k in NAMES)


@pytest.fixture
async def db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = Database(await databases.new())
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield db
    await db.dispose()


INSERT = Prepared(insert(probe).values({n: bindparam(n) for n in (*NAMES, "kind")}))
BY_KEY = KeyLookup(select(*(probe.c[n] for n in NAMES)), probe, ("tenant", "name"))
SET_AT = Prepared(
    update(probe)
    .where(probe.c.tenant == bindparam("k_tenant"), probe.c.name == bindparam("k_name"))
    .values(at=bindparam("at"), labels=bindparam("labels"))
)


async def test_rows_written_here_read_back_through_sqlalchemy_as_written(db: Database) -> None:
    rows = [row("acme", n) for n in range(8)]
    async with db.transaction() as session:
        await INSERT.executemany(session, rows)
    async with db.session() as session:
        result = await session.execute(select(*(probe.c[n] for n in NAMES)))
        read = sorted(tuple(r) for r in result)
    assert read == sorted(in_utc(r) for r in rows)
    assert all(r[2] is None or r[2].tzinfo is UTC for r in read)


async def test_rows_written_through_sqlalchemy_read_back_here_by_key(db: Database) -> None:
    rows = [row(tenant, n) for tenant in ("acme", "other") for n in range(6)]
    async with db.transaction() as session:
        await session.execute(insert(probe), rows)
    keys = [("acme", "n1"), ("other", "n2"), ("acme", "n2"), ("acme", "n9")]
    async with db.session() as session:
        found = await BY_KEY.fetch(session, keys)
    wanted = [r for r in rows if (r["tenant"], r["name"]) in set(keys)]
    assert sorted(found) == sorted(in_utc(r) for r in wanted)
    assert all(isinstance(r[3], dict) and isinstance(r[4], bool) for r in found)


# By a key with a time in it, filtered: a KeyLookup whose keys must bind as their column's
# type does.
BY_TIME = KeyLookup(
    select(*(probe.c[n] for n in NAMES)).where(probe.c.on.is_(True)), probe, ("tenant", "at")
)


async def test_keys_with_a_time_find_the_rows_written_with_it_in_any_zone(db: Database) -> None:
    rows = [row(tenant, n) for tenant in ("acme", "other") for n in range(12)]
    async with db.transaction() as session:
        await session.execute(insert(probe), rows)
    timed = [r for r in rows if r["at"] is not None]
    keys = [(r["tenant"], r["at"].astimezone(UTC)) for r in timed[::2]]
    keys.append(("acme", datetime(2030, 1, 1, tzinfo=UTC)))  # no such row
    async with db.session() as session:
        found = await BY_TIME.fetch(session, keys)
    wanted = {(r["tenant"], r["at"]) for r in timed[::2] if r["on"]}
    assert len(wanted) >= 3
    assert sorted(found) == sorted(in_utc(r) for r in timed if (r["tenant"], r["at"]) in wanted)


async def test_an_update_is_in_the_sessions_transaction(db: Database) -> None:
    async with db.transaction() as session:
        await INSERT.executemany(session, [row("acme", 1), row("acme", 2)])
    later = datetime(2027, 1, 1, tzinfo=UTC)
    change = {"k_tenant": "acme", "k_name": "n1", "at": later, "labels": {"kpi": "moved"}}
    seen: list[tuple[Any, ...]] = []

    async def change_then_fail() -> None:
        async with db.transaction() as session:
            await SET_AT.executemany(session, [change])
            seen.extend(await BY_KEY.fetch(session, [("acme", "n1")]))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await change_then_fail()
    assert [r[2:4] for r in seen] == [(later, {"kpi": "moved"})]
    async with db.session() as session:
        assert (await BY_KEY.fetch(session, [("acme", "n1")])) == [in_utc(row("acme", 1))]


async def test_each_transaction_of_a_session_runs_its_statements_in_itself(db: Database) -> None:
    """The driver's connection is remembered per transaction (`shared.db.driver_connection`):
    a session that commits and goes on runs the next statements in its next transaction, so
    a rollback there takes back those and only those."""
    async with db.sessions() as session:
        await session.begin()
        await INSERT.executemany(session, [row("acme", 1)])
        await session.commit()
        await session.begin()
        await INSERT.executemany(session, [row("acme", 2)])
        assert len(await BY_KEY.fetch(session, [("acme", "n1"), ("acme", "n2")])) == 2
        await session.rollback()
        await session.begin()
        await INSERT.executemany(session, [row("acme", 3)])
        await session.commit()
    async with db.session() as session:
        found = await BY_KEY.fetch(session, [("acme", f"n{n}") for n in (1, 2, 3)])
    assert sorted(found) == sorted(in_utc(row("acme", n)) for n in (1, 3))


async def test_what_it_cannot_run_is_refused_before_anything_runs(db: Database) -> None:
    expanding = Prepared(
        select(probe.c.name).where(probe.c.name.in_(bindparam("names", expanding=True)))
    )
    defaulted = Prepared(insert(probe).values({n: bindparam(n) for n in NAMES}))
    async with db.transaction() as session:
        with pytest.raises(TypeError, match="expanding"):
            await expanding.fetch(session, {"names": ["n1"]})
        with pytest.raises(TypeError, match="Python-side defaults"):
            await defaulted.executemany(session, [row("acme", 1)])
    async with db.session() as session:
        assert (await session.execute(select(probe.c.name))).all() == []
