"""What the Alertmanager sender and the Alertmanager API read and write: tenants' targets,
the alerts it sends and shows, and the resolutions each Alertmanager has accepted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.domain.evaluation import AlertState
from services.alerts.repository import chunks
from services.alerts.tables import Alert, AlertmanagerResolution, AlertmanagerTarget

# A published firing stays firing through a spell of no data (no resolved event is sent).
_FIRING = or_(
    col(Alert.state) == AlertState.FIRING.value,
    and_(col(Alert.state) == AlertState.NO_DATA.value, col(Alert.notified)),
)


async def target(session: AsyncSession, tenant: str) -> AlertmanagerTarget | None:
    return await session.get(AlertmanagerTarget, tenant)


def add_target(session: AsyncSession, row: AlertmanagerTarget) -> None:
    session.add(row)


async def targets(session: AsyncSession) -> dict[str, AlertmanagerTarget]:
    """Every tenant's row (tenants without one use the deployment's Alertmanagers)."""
    rows = (await session.execute(select(AlertmanagerTarget))).scalars().all()
    return {row.tenant: row for row in rows}


async def published_firing(session: AsyncSession) -> Sequence[Alert]:
    """Firing alerts whose firing was published (silenced and inhibited ones were not)."""
    query = select(Alert).where(_FIRING, col(Alert.notified))
    return (await session.execute(query)).scalars().all()


async def resolved_since(session: AsyncSession, since: datetime) -> Sequence[Alert]:
    query = select(Alert).where(
        col(Alert.state) == AlertState.RESOLVED.value, col(Alert.ended_at) >= since
    )
    return (await session.execute(query)).scalars().all()


async def firing_of(session: AsyncSession, tenant: str) -> Sequence[Alert]:
    """A tenant's firing alerts, muted or not: what an Alertmanager would hold."""
    query = select(Alert).where(col(Alert.tenant) == tenant, _FIRING)
    return (await session.execute(query)).scalars().all()


async def resolutions(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str, str], datetime]:
    """(tenant, fingerprint, url) → the ended_at accepted there, for these alerts."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str, str], datetime] = {}
    for chunk in chunks(wanted):
        query = select(AlertmanagerResolution).where(
            col(AlertmanagerResolution.tenant).in_(sorted({t for t, _ in chunk})),
            col(AlertmanagerResolution.fingerprint).in_([f for _, f in chunk]),
        )
        for row in (await session.execute(query)).scalars().all():
            found[(row.tenant, row.fingerprint, row.url)] = row.ended_at
    return found


async def record_resolutions(
    session: AsyncSession, accepted: Iterable[tuple[str, str, str, datetime]]
) -> None:
    """Record (tenant, fingerprint, url, ended_at) as accepted, replacing older ones."""
    for tenant, fp, url, ended_at in accepted:
        row = await session.get(AlertmanagerResolution, (tenant, fp, url))
        if row is None:
            session.add(
                AlertmanagerResolution(tenant=tenant, fingerprint=fp, url=url, ended_at=ended_at)
            )
        else:
            row.ended_at = ended_at
    await session.flush()
