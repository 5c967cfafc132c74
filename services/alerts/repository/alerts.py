"""Alerts by fingerprint and their history: the rows a batch can touch (locked), the firing
sets that inhibit, the clock's work list, and the bulk write-back of what evaluation changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.repository import chunks
from services.alerts.tables import Alert, AlertHistory, AlertRule, AlertsTable
from shared.pagination import Sort
from shared.repository import page_of_tenant

_history_table: Table = AlertsTable.metadata.tables[AlertHistory.__tablename__]

# Fingerprint order is stable under updates, so cursors never skip an alert.
BY_FINGERPRINT = Sort("fingerprint", col(Alert.fingerprint))  # type: ignore[arg-type]


async def get(
    session: AsyncSession, tenant: str, fingerprint: str, *, for_update: bool = False
) -> Alert | None:
    return await session.get(Alert, (tenant, fingerprint), with_for_update=for_update)


def add(session: AsyncSession, alert: Alert) -> None:
    """A new alert, inserted at the next flush (a query of the batch may flush it earlier)."""
    session.add(alert)


async def add_history(session: AsyncSession, line: AlertHistory) -> None:
    session.add(line)
    await session.flush()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded alerts (inside the caller's transaction)."""
    await session.flush()


async def by_fingerprint(
    session: AsyncSession, keys: Iterable[tuple[str, str]], *, for_update: bool = True
) -> dict[tuple[str, str], Alert]:
    """The alerts of these (tenant, fingerprint) that exist, locked for update."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Alert] = {}
    for chunk in chunks(wanted):
        tenants = sorted({t for t, _ in chunk})
        query = select(Alert).where(
            col(Alert.tenant).in_(tenants), col(Alert.fingerprint).in_([f for _, f in chunk])
        )
        if for_update:
            query = query.with_for_update()
        for alert in (await session.execute(query)).scalars().all():
            found[(alert.tenant, alert.fingerprint)] = alert
    return found


async def write_back(
    session: AsyncSession, changes: Sequence[tuple[Alert, dict[str, Any]]]
) -> None:
    """Copy evaluated state to the alert rows and write it: a new row through the ORM (its
    INSERT, at the flush), a stored one as the parameters of one bulk UPDATE by primary key,
    its attributes set as already saved. The ORM's unit of work cost ~300 µs per changed row,
    more than evaluating it."""
    updates: list[dict[str, Any]] = []
    for alert, values in changes:
        if inspect(alert).persistent:
            for name, value in values.items():
                set_committed_value(alert, name, value)
            updates.append({"tenant": alert.tenant, "fingerprint": alert.fingerprint, **values})
        else:
            for name, value in values.items():
                if getattr(alert, name) != value:
                    setattr(alert, name, value)
    await session.flush()
    if updates:
        await session.execute(update(Alert), updates)


async def insert_history(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """History lines in one executemany, in the order given (their `seq` follows it).

    Core, not the ORM's bulk insert: that one fetches every generated `seq` back, which cost
    ~1 ms a row here."""
    if rows:
        await session.execute(insert(_history_table), list(rows))


async def of_rule(
    session: AsyncSession, tenant: str, rule_id: str, *, active_only: bool = True
) -> Sequence[Alert]:
    query = select(Alert).where(col(Alert.tenant) == tenant, col(Alert.rule_id) == rule_id)
    if active_only:
        query = query.where(col(Alert.state).in_([s.value for s in ACTIVE_STATES]))
    return (await session.execute(query.with_for_update())).scalars().all()


async def to_tick(session: AsyncSession) -> Sequence[Alert]:
    """Alerts the clock can move: active ones, and those of rules that watch for no data."""
    watched = select(col(AlertRule.id)).where(col(AlertRule.no_data_seconds).is_not(None))
    result = await session.execute(
        select(Alert)
        .where(
            or_(
                col(Alert.state).in_([s.value for s in ACTIVE_STATES]),
                col(Alert.rule_id).in_(watched.scalar_subquery()),
            )
        )
        .order_by(col(Alert.tenant), col(Alert.fingerprint))
        .with_for_update()
    )
    return result.scalars().all()


async def acks_expired(session: AsyncSession, now: datetime) -> Sequence[Alert]:
    """Acknowledged alerts whose acknowledgement has lapsed by `now`, locked."""
    result = await session.execute(
        select(Alert)
        .where(col(Alert.ack_expires_at) <= now)
        .order_by(col(Alert.tenant), col(Alert.fingerprint))
        .with_for_update()
    )
    return result.scalars().all()


async def firing_on_kpis(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """(tenant, KPI) → fingerprint → labels of the firing alerts on these KPIs themselves
    (subject kind `kpi`: the ones whose `kpi` label is the KPI and that have no `key_result`)."""
    wanted = set(keys)
    found: dict[tuple[str, str], dict[str, dict[str, str]]] = {k: {} for k in wanted}
    if not wanted:
        return found
    result = await session.execute(
        select(
            col(Alert.tenant), col(Alert.subject), col(Alert.fingerprint), col(Alert.labels)
        ).where(
            col(Alert.tenant).in_(sorted({t for t, _ in wanted})),
            col(Alert.subject).in_(sorted({k for _, k in wanted})),
            col(Alert.subject_kind) == "kpi",
            col(Alert.state) == AlertState.FIRING.value,
        )
    )
    for tenant, kpi, fp, labels in result.all():
        if (tenant, kpi) in wanted:
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
