"""Dependency aliases of the goals routes, and the contexts its writing routes run with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from services.goals.metrics_client import KpiCurrent, KpiInfo, MetricsClient
from services.goals.schemas import KeyResultRead
from services.goals.service import backfill
from services.goals.service.context import Write
from services.goals.settings import GoalsSettings
from shared.api import (
    Admin,
    Now,
    Reader,
    ReadSession,
    RuntimeDep,
    Writer,
    WriteSession,
    settings_of,
)
from shared.auth import Principal
from shared.runtime import Runtime


def _metrics(request: Request) -> MetricsClient:
    client: MetricsClient = request.app.state.metrics
    return client


def _authorization(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    return authorization


SettingsDep = Annotated[GoalsSettings, Depends(settings_of(GoalsSettings))]
MetricsDep = Annotated[MetricsClient, Depends(_metrics)]
"""The metrics REST API (built in the lifespan)."""
CallerAuthorization = Annotated[str | None, Depends(_authorization)]
"""The caller's `Authorization` header, forwarded to metrics (one key works everywhere)."""


def _write(caller: Writer, session: WriteSession, settings: SettingsDep, now: Now) -> Write:
    return Write(session, caller.tenant, caller.key_id, settings, now)


WriteContext = Annotated[Write, Depends(_write)]
"""A writing route's use case context: the caller (write scope), the request's transaction
(committed before the response is sent), the settings, the time of the request."""


@dataclass(frozen=True, slots=True)
class KpiWrite:
    """A write that asks metrics about a KPI first. The lookups run before `transaction()`
    opens the database's writer, so it is never held across a call to another service; once
    the write has committed, `backfill` fills the KR it linked from the KPI's stored periods."""

    caller: Principal
    runtime: Runtime
    metrics: MetricsClient
    authorization: str | None
    settings: GoalsSettings
    now: datetime

    async def kpi(self, key: str) -> KpiInfo:
        return await self.metrics.kpi(key, self.authorization)

    async def current(self, key: str) -> KpiCurrent:
        return await self.metrics.current(key, self.authorization)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Write]:
        async with self.runtime.db.transaction() as session:
            yield Write(session, self.caller.tenant, self.caller.key_id, self.settings, self.now)

    async def backfill(self, kr: KeyResultRead) -> KeyResultRead:
        return await backfill.backfill(
            self.runtime.db,
            self.metrics,
            self.authorization,
            self.settings,
            self.caller.tenant,
            kr,
            self.now,
        )


def _kpi_write(
    caller: Writer,
    runtime: RuntimeDep,
    metrics: MetricsDep,
    authorization: CallerAuthorization,
    settings: SettingsDep,
    now: Now,
) -> KpiWrite:
    return KpiWrite(caller, runtime, metrics, authorization, settings, now)


KpiWriteContext = Annotated[KpiWrite, Depends(_kpi_write)]

__all__ = [
    "Admin",
    "CallerAuthorization",
    "KpiWriteContext",
    "MetricsDep",
    "Now",
    "ReadSession",
    "Reader",
    "RuntimeDep",
    "SettingsDep",
    "WriteContext",
    "WriteSession",
    "Writer",
]
