"""Alerts by fingerprint and their history: the rows a batch can touch (locked), the firing
sets that inhibit, the clock's work list, and the bulk write-back of what evaluation changed.
Evaluation reads and writes plain rows through Core (executemany by primary key); the API's
single-alert work (acknowledgements, pages) goes through the ORM."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import RowMapping, Select, Table, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.tables import Alert, AlertHistory, AlertRule, AlertsTable
from shared.pagination import Sort
from shared.prepared import Prepared
from shared.repository import page_of_tenant
from shared.sql import KeyLookup

_history_table: Table = AlertsTable.metadata.tables[AlertHistory.__tablename__]
_alerts: Table = AlertsTable.metadata.tables[Alert.__tablename__]
_rules: Table = AlertsTable.metadata.tables[AlertRule.__tablename__]
_ACTIVE = sorted(s.value for s in ACTIVE_STATES)

# What evaluation reads of an alert row (`service.mapping.live_of`).
ROW_COLUMNS = tuple(
    _alerts.c[name]
    for name in (
        "tenant",
        "fingerprint",
        "rule_id",
        "subject_kind",
        "subject",
        "state",
        "value",
        "active_since",
        "started_at",
        "ended_at",
        "clear_since",
        "last_seen_at",
        "notified",
        "last_notified_at",
        "labels",
        "annotations",
        "samples",
        "silenced_by",
        "inhibited",
        "acked_at",
        "due_at",
    )
)

# Fingerprint order is stable under updates, so cursors never skip an alert.
BY_FINGERPRINT = Sort("fingerprint", col(Alert.fingerprint))  # type: ignore[arg-type]


async def get(
    session: AsyncSession, tenant: str, fingerprint: str, *, for_update: bool = False
) -> Alert | None:
    return await session.get(Alert, (tenant, fingerprint), with_for_update=for_update)


async def add_history(session: AsyncSession, line: AlertHistory) -> None:
    session.add(line)
    await session.flush()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded alerts (inside the caller's transaction)."""
    await session.flush()


_Query = TypeVar("_Query", bound=Select[Any])


def _locked(query: _Query) -> _Query:
    """The alert rows `query` reads, locked (not those of a table it joins: the keys'
    `unnest` of a `KeyLookup` cannot be)."""
    return query.with_for_update(of=_alerts)


# The statements run per batch are built once (building one costs more than running it on
# a small batch) and run on the driver's connection (`shared.prepared`): through the session,
# compiling each row's parameters cost more than the database's work.
_BY_FINGERPRINT = KeyLookup(_locked(select(*ROW_COLUMNS)), _alerts, ("tenant", "fingerprint"))
_ROW_NAMES = tuple(c.name for c in ROW_COLUMNS)
_UPDATES: dict[tuple[str, ...], Prepared] = {}
_INSERTS: dict[tuple[Table, tuple[str, ...]], Prepared] = {}


def _update_of(names: tuple[str, ...]) -> Prepared:
    """The UPDATE by primary key of these columns (built once per set of columns)."""
    stmt = _UPDATES.get(names)
    if stmt is None:
        stmt = _UPDATES[names] = Prepared(
            update(_alerts)
            .where(
                _alerts.c.tenant == bindparam("k_tenant"),
                _alerts.c.fingerprint == bindparam("k_fingerprint"),
            )
            .values({n: bindparam(n) for n in names})
        )
    return stmt


async def _insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Whole rows into `table` in the order given, one executemany per run of rows with the
    same columns (all of them, as the callers build them)."""
    for names, run in groupby(rows, key=tuple):
        stmt = _INSERTS.get((table, names))
        if stmt is None:
            values: dict[str, Any] = {n: bindparam(n) for n in names}
            stmt = _INSERTS[table, names] = Prepared(insert(table).values(values))
        await stmt.executemany(session, list(run))


async def rows_by_fingerprint(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows (`ROW_COLUMNS`, by name) of the alerts of these (tenant, fingerprint) that
    exist, locked for update: plain rows by primary key, no ORM entities."""
    rows = await _BY_FINGERPRINT.fetch(session, list(set(keys)))
    return {(row[0], row[1]): dict(zip(_ROW_NAMES, row, strict=True)) for row in rows}


async def insert_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """New alert rows, whole (`service.mapping.new_row`)."""
    await _insert(session, _alerts, rows)


async def update_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Changed alert rows by primary key: each dict has `tenant`, `fingerprint` and the
    columns to set; one executemany per set of columns (most batches have one)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        names = tuple(n for n in row if n not in ("tenant", "fingerprint"))
        by_columns.setdefault(names, []).append(
            {"k_tenant": row["tenant"], "k_fingerprint": row["fingerprint"], **row}
        )
    for names, params in by_columns.items():
        await _update_of(names).executemany(session, params)


async def insert_history(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """History lines, whole, in the order given (their `seq` follows it). Not the ORM's bulk
    insert: that one fetches every generated `seq` back, which cost ~1 ms a row here."""
    await _insert(session, _history_table, rows)


async def rows_of_rule(session: AsyncSession, tenant: str, rule_id: str) -> Sequence[RowMapping]:
    """The rule's active alerts, locked."""
    query = select(*ROW_COLUMNS).where(
        _alerts.c.tenant == tenant,
        _alerts.c.rule_id == rule_id,
        _alerts.c.state.in_(_ACTIVE),
    )
    return list((await session.execute(_locked(query))).mappings())


async def rows_due(session: AsyncSession, now: datetime) -> Sequence[RowMapping]:
    """The alerts the clock can move by `now` (`due_at`, indexed), locked."""
    query = (
        select(*ROW_COLUMNS)
        .where(_alerts.c.due_at <= now)
        .order_by(_alerts.c.tenant, _alerts.c.fingerprint)
    )
    return list((await session.execute(_locked(query))).mappings())


async def rows_to_tick(
    session: AsyncSession, tenants: Collection[str] | None = None
) -> Sequence[RowMapping]:
    """Every alert the clock could move (active ones, those of rules that watch for no data),
    of `tenants` or of all: what a tick looks at when definitions changed (or at start)."""
    watched = select(_rules.c.id).where(_rules.c.no_data_seconds.is_not(None))
    query = select(*ROW_COLUMNS).where(
        or_(_alerts.c.state.in_(_ACTIVE), _alerts.c.rule_id.in_(watched.scalar_subquery()))
    )
    if tenants is not None:
        query = query.where(_alerts.c.tenant.in_(sorted(tenants)))
    query = query.order_by(_alerts.c.tenant, _alerts.c.fingerprint)
    return list((await session.execute(_locked(query))).mappings())


async def mark_due(
    session: AsyncSession, kpis: Mapping[tuple[str, str], str], now: datetime
) -> None:
    """The active alerts that are not about these (tenant, KPI) themselves but carry their
    `kpi` label (a key result's: the possible targets of inhibition) are due now, as the
    KPI's firing alerts changed; but the one fingerprint given per KPI ("" for none), an
    alert already judged against the KPI's current firing alerts. Indexed (`ix_alerts_kpi`),
    one executemany."""
    params = [
        {"k_tenant": t, "k_kpi": k, "k_fresh": kpis[(t, k)], "k_now": now} for t, k in sorted(kpis)
    ]
    await _MARK_DUE.executemany(session, params)


_MARK_DUE = Prepared(
    update(_alerts)
    .where(
        _alerts.c.tenant == bindparam("k_tenant"),
        _alerts.c.kpi == bindparam("k_kpi"),
        or_(*(_alerts.c.state == state for state in _ACTIVE)),  # no IN in an executemany
        _alerts.c.subject_kind != "kpi",
        _alerts.c.fingerprint != bindparam("k_fresh"),
    )
    .values(due_at=bindparam("k_now"))
)


async def acks_expired(session: AsyncSession, now: datetime) -> Sequence[Alert]:
    """Acknowledged alerts whose acknowledgement has lapsed by `now`, locked."""
    query = (
        select(Alert)
        .where(col(Alert.ack_expires_at) <= now)
        .order_by(col(Alert.tenant), col(Alert.fingerprint))
    )
    result = await session.execute(_locked(query))
    return result.scalars().all()


_FIRING_ON_KPIS = KeyLookup(
    select(_alerts.c.tenant, _alerts.c.kpi, _alerts.c.fingerprint, _alerts.c.labels).where(
        _alerts.c.state == AlertState.FIRING.value, _alerts.c.subject_kind == "kpi"
    ),
    _alerts,
    ("tenant", "kpi"),
)


async def firing_on_kpis(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """(tenant, KPI) → fingerprint → labels of the firing alerts on these KPIs themselves
    (subject kind `kpi`: the ones whose `kpi` label is the KPI and that have no `key_result`)."""
    wanted = set(keys)
    found: dict[tuple[str, str], dict[str, dict[str, str]]] = {k: {} for k in wanted}
    if wanted:
        for tenant, kpi, fp, labels in await _FIRING_ON_KPIS.fetch(session, wanted):
            found[(tenant, kpi)][fp] = dict(labels)
    return found


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    states: Sequence[str],
    labels: dict[str, str],
    limit: int,
    cursor: str | None,
) -> tuple[list[Alert], str | None]:
    """Alerts in fingerprint order, filtered by state and by label values."""
    where = [col(Alert.labels)[name].as_string() == value for name, value in labels.items()]
    if states:
        where.append(col(Alert.state).in_(states))
    return await page_of_tenant(
        session,
        Alert,
        tenant,
        sort=BY_FINGERPRINT,
        limit=limit,
        cursor=cursor,
        where=where,
        id_column="fingerprint",
    )


async def history(session: AsyncSession, tenant: str, fingerprint: str) -> Sequence[AlertHistory]:
    result = await session.execute(
        select(AlertHistory)
        .where(col(AlertHistory.tenant) == tenant, col(AlertHistory.fingerprint) == fingerprint)
        .order_by(col(AlertHistory.seq))
    )
    return result.scalars().all()
