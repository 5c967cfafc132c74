"""The goals service's adapter to the metrics service's REST API (httpx): does a KPI exist,
what is it, and what is its value now. Built in the app's lifespan; tests hand it a transport.

Outside `repository/` on purpose: a repository is SQL on this service's own database, run in
the caller's transaction. This is another service's API over the network (goals never reads
metrics' tables, DESIGN.md "Service shape"), and routes call it *before* they open their write
transaction, so the database's writer is never held across a call to another service.

The caller's `Authorization` header is forwarded: one API key works on every service, so
metrics answers for the caller's tenant and no more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from services.goals.errors import KpiHasNoValue, MetricsUnavailable, UnknownKpi

Answer = TypeVar("Answer", bound=BaseModel)


class KpiInfo(BaseModel):
    """What goals needs of a KPI definition (metrics' KpiRead, other fields ignored)."""

    model_config = ConfigDict(extra="ignore")

    key: str
    name: str
    unit: str = ""
    aggregation: str
    period: str
    direction: str = "higher"
    cadence: timedelta | None = None


class KpiCurrent(BaseModel):
    """A KPI's latest period with data (metrics' KpiValueRead)."""

    model_config = ConfigDict(extra="ignore")

    kpi: str
    period: str
    aggregation: str
    period_start: datetime | None
    period_end: datetime | None
    value: float | None
    count: int
    last_value: float | None
    last_at: datetime | None
    health: str
    revision: int = 0  # an older metrics sends none: no corrections


SERIES_SLICE = timedelta(days=900)
"""At most 901 daily buckets per series request: under metrics' limit of 1,000."""


class KpiPeriodRead(BaseModel):
    """One period of a KPI as metrics stores it (a point of metrics' SeriesRead). Count 0
    with a revision: every measurement of the period was retracted (value null)."""

    model_config = ConfigDict(extra="ignore")

    start: datetime
    end: datetime
    value: float | None
    count: int
    last_value: float | None = None
    last_at: datetime | None = None
    revision: int = 0  # an older metrics sends none: no corrections

    @property
    def emptied(self) -> bool:
        """A period corrected down to no data (kept: its revision orders what comes next)."""
        return self.count == 0 and self.revision > 0


class _Series(BaseModel):
    model_config = ConfigDict(extra="ignore")

    points: list[KpiPeriodRead]


class MetricsClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(
        self,
        shape: type[Answer],
        what: str,
        key: str,
        authorization: str | None,
        below: str = "",
        params: dict[str, str] | None = None,
    ) -> Answer:
        """Metrics' answer about KPI `key` (at `/v1/kpis/{key}{below}`) read as `shape`
        (`what` it is, in the error): UnknownKpi for a 404, MetricsUnavailable when metrics
        cannot be reached or its answer is neither a 200 nor readable."""
        path = f"/v1/kpis/{quote(key, safe='')}{below}"
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await self._http.get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(
                f"the metrics service could not be reached to look up KPI '{key}': "
                f"{type(exc).__name__}"
            ) from exc
        if response.status_code == 404:
            raise UnknownKpi(f"unknown KPI '{key}': metrics has no KPI with that key")
        if response.status_code != 200:
            raise MetricsUnavailable(
                f"the metrics service answered {response.status_code} for KPI '{key}'"
            )
        try:
            return shape.model_validate_json(response.content)
        except ValidationError as exc:
            raise MetricsUnavailable(
                f"the metrics service sent an unreadable {what}: {exc}"
            ) from exc

    async def kpi(self, key: str, authorization: str | None) -> KpiInfo:
        """The KPI's definition; UnknownKpi (422) when metrics has none by that key for the
        caller's tenant, MetricsUnavailable (503) when metrics cannot answer."""
        return await self._get(KpiInfo, "KPI", key, authorization)

    async def current(self, key: str, authorization: str | None) -> KpiCurrent:
        """The KPI's current value; KpiHasNoValue (422) when no period has data yet."""
        current = await self._get(KpiCurrent, "value", key, authorization, "/value")
        if current.value is None or current.period_start is None or current.period_end is None:
            raise KpiHasNoValue(f"KPI '{key}' has no value yet to start from")
        return current

    async def periods(
        self, key: str, start: datetime, end: datetime, authorization: str | None
    ) -> list[KpiPeriodRead]:
        """The KPI's stored periods overlapping [start, end) that have data or were emptied
        by retractions (`KpiPeriodRead.emptied`), oldest first (its series in its own
        period): what a newly linked KR backfills from. Asked in slices of `SERIES_SLICE`
        (metrics draws at most 1,000 buckets per series)."""
        found: dict[datetime, KpiPeriodRead] = {}
        at = start
        while at < end:
            until = min(end, at + SERIES_SLICE)
            params = {"start": at.isoformat(), "end": until.isoformat()}
            series = await self._get(_Series, "series", key, authorization, "/series", params)
            # A period straddling two slices comes in both: the same rollup, kept once.
            found.update(
                {
                    p.start: p
                    for p in series.points
                    if (p.value is not None and p.count) or p.emptied
                }
            )
            at = until
        return [found[s] for s in sorted(found)]
