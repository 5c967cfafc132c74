"""From decoded events to rows, and from touched rollups to `kpi.values` outbox rows.

Shared by the SQLite and PostgreSQL writers; plain Python, no I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec

from services.metrics.codec import Decoded, identity
from services.metrics.domain.health import (
    Aggregation,
    Bands,
    Direction,
    Health,
    aggregate,
    health,
)
from services.metrics.domain.rollups import Aggregate
from services.metrics.tables import from_micros, to_micros
from shared.events import KPI_VALUE_V1, MeasurementRetractedV1, MeasurementV1
from shared.inbound import Inbound, Rejection
from shared.periods import DEFAULT_TIMEZONE, Period, period_bounds, period_end

DAY_US = 86_400_000_000

Record = tuple[bytes, str, str, str, str, int, int, float, str | None]
"""A point as stored, in the column order of `measurements`: (key, tenant, source, event_id,
kpi, observed_at µs, period_start µs, value, dimensions as JSON text or None). Both writers
send these tuples as they are: COPY records on PostgreSQL, statement parameters on SQLite."""

TouchedRollup = tuple[str, str, int, int, float, float, float, float, int, int]
"""(tenant, kpi, period_start µs, count, total, minimum, maximum, last_value, last_at µs,
revision): a rollup as stored, as the writers' statements return it."""

KPI_COLUMNS = (
    "k.tenant, k.key, k.period, k.aggregation, k.direction, k.green, k.amber, k.tags, t.timezone"
)
KPI_FROM = "kpis k LEFT JOIN tenants t ON t.slug = k.tenant"
"""`SELECT {KPI_COLUMNS} FROM {KPI_FROM}`: each KPI with its tenant's timezone."""


def wanted(batch: Sequence[Inbound]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (tenant, KPI) pairs a batch names, and their tenants: the definitions a writer reads
    in the batch's transaction (not every KPI of every tenant: that read grew with the
    database, and was most of the service's CPU with a thousand KPIs)."""
    pairs: set[tuple[str, str]] = set()
    add = pairs.add
    for item in batch:
        decoded = item.decoded
        if type(decoded) is Decoded:
            env = decoded.envelope
            add((env.tenant, env.subject))
        else:
            event = item.event
            add((event.tenant, event.subject))
    return sorted(pairs), sorted({tenant for tenant, _ in pairs})


def missing(
    touched: Iterable[Sequence[Any]], kpis: dict[tuple[str, str], KpiDef]
) -> list[tuple[str, str]]:
    """The (tenant, KPI) pairs of touched rollups whose definitions were not read: a
    restatement that moves a point to another KPI also recomputes the period it left."""
    return sorted({(row[0], row[1]) for row in touched} - kpis.keys())


@dataclass(frozen=True, slots=True)
class KpiDef:
    period: Period
    aggregation: Aggregation
    direction: Direction
    bands: Bands
    tags: list[str]
    timezone: str = DEFAULT_TIMEZONE
    """The tenant's: the zone the KPI's periods follow (`shared.periods`)."""


def kpi_defs(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], KpiDef]:
    """KPI definitions from `SELECT {KPI_COLUMNS} FROM {KPI_FROM}` rows."""
    return {(row[0], row[1]): _kpi_def(*row[2:]) for row in rows}


@lru_cache(maxsize=16_384)
def _kpi_def(
    period: str, agg: str, direction: str, green: Any, amber: Any, tags: Any, tz: str | None
) -> KpiDef:
    """The definition a row's columns say: parsed once per distinct row content (each batch
    reads its KPIs afresh; the same columns always give the same definition)."""
    parsed = json.loads(tags) if isinstance(tags, str | bytes) else list(tags or [])
    return KpiDef(
        Period(period),
        Aggregation(agg),
        Direction(direction),
        Bands(green, amber),
        parsed,
        tz or DEFAULT_TIMEZONE,
    )


class _PeriodStarts:
    """Period starts in µs, computed once per (timezone, period, UTC day) seen and period of
    it (a UTC day meets at most a few of a zone's periods), the last one answered first: a
    batch is mostly one tenant's present."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, Period, int], list[tuple[int, int]]] = {}
        self._last: tuple[str, Period, int, int] = ("", Period.DAY, 0, 0)

    def __call__(self, tz: str, period: Period, at_us: int) -> int:
        last_tz, last_period, start, end = self._last
        if start <= at_us < end and last_period is period and last_tz == tz:
            return start
        known = self._memo.setdefault((tz, period, at_us // DAY_US), [])
        for start, end in known:
            if start <= at_us < end:
                break
        else:
            start_at, end_at = period_bounds(from_micros(at_us), period, tz)
            start, end = to_micros(start_at), to_micros(end_at)
            known.append((start, end))
        self._last = (tz, period, start, end)
        return start


_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Correction:
    """A restatement (`revision` > 0) or a retraction of the point `key`, in batch order;
    `ingest.corrections` applies them after the batch's new points. A retraction's time and
    period are its own event's (where its tombstone is kept if the point is not stored)."""

    key: bytes
    tenant: str
    source: str
    event_id: str
    kpi: str
    at: int
    period_start: int
    value: float
    dimensions: str | None
    revision: int
    retract: bool


@dataclass(slots=True)
class Points:
    """A batch's points to insert (no key twice), their keys, its corrections, and the refused
    records; `unknown` of them were refused for an unknown tenant or KPI (a writer that keeps
    definitions between batches reloads them before believing that)."""

    records: list[Record]
    keys: set[bytes]
    rejected: list[Rejection]
    unknown: int = 0
    corrections: list[Correction] = field(default_factory=list)


def prepare(
    batch: Sequence[Inbound],
    kpis: dict[tuple[str, str], KpiDef],
    tenants: set[str],
    stored: Container[bytes] = frozenset(),
) -> Points:
    """Points to insert, corrections, and the records refused: unknown tenant, unknown KPI,
    wrong type.

    A point whose key is in `stored` (known to be stored already), or seen earlier in the
    batch, is a redelivery: it is left out, and not refused. A restatement (revision > 0) or
    a retraction is a correction, whatever is stored: the slow path decides."""
    records: list[Record] = []
    rejected: list[Rejection] = []
    corrections: list[Correction] = []
    seen: set[bytes] = set()
    unknown = 0
    starts = _PeriodStarts()
    day, utc = Period.DAY, DEFAULT_TIMEZONE
    encode = _encode
    append = records.append
    for item in batch:
        decoded = item.decoded
        if type(decoded) is Decoded:  # the hot path: msgspec's struct, no pydantic objects
            env = decoded.envelope
            tenant, key, source, event_id = env.tenant, env.subject, env.source, env.id
            key_id, at = decoded.key, decoded.observed_at
            value, dims, revision = env.data.value, env.data.dimensions, env.data.revision
            retract = False
        else:
            event, payload = item.event, item.payload
            tenant, key, source, event_id = event.tenant, event.subject, event.source, event.id
            at, retract = to_micros(event.time), False
            if isinstance(payload, MeasurementV1):
                value, dims, revision = payload.value, payload.dimensions, payload.revision
            elif isinstance(payload, MeasurementRetractedV1):
                # The point it names; the retraction's own (source, id) is not its identity.
                source, event_id, value, dims, revision = payload.source, payload.id, 0.0, {}, 0
                retract = True
            else:
                rejected.append(Rejection(item.record, f"unexpected event type {event.type}"))
                continue
            key_id = identity(tenant, source, event_id)
        if tenant not in tenants:
            rejected.append(Rejection(item.record, f"unknown tenant '{tenant}'"))
            unknown += 1
            continue
        kpi = kpis.get((tenant, key))
        if kpi is None:
            reason = f"unknown KPI '{key}' for tenant '{tenant}'"
            rejected.append(Rejection(item.record, reason))
            unknown += 1
            continue
        period = kpi.period
        if revision or retract:  # `revision` is UNSET (falsy) or 0 on the hot path
            corrections.append(
                Correction(
                    key_id,
                    tenant,
                    source,
                    event_id,
                    key,
                    at,
                    starts(kpi.timezone, period, at),
                    value,
                    encode(dims).decode() if dims else None,
                    revision or 0,
                    retract,
                )
            )
            continue
        if key_id in seen or key_id in stored:
            continue  # a redelivery: the first delivery is the one stored
        seen.add(key_id)
        utc_day = period is day and kpi.timezone == utc
        append(
            (
                key_id,
                tenant,
                source,
                event_id,
                key,
                at,
                at - at % DAY_US if utc_day else starts(kpi.timezone, period, at),
                value,
                # `dims` is UNSET when absent (a falsy singleton), like an empty dict.
                encode(dims).decode() if dims else None,
            )
        )
    return Points(records, seen, rejected, unknown, corrections)


RollupKey = tuple[str, str, int]
"""(tenant, kpi, period_start µs)"""


def record_rollups(records: Iterable[Record]) -> dict[RollupKey, list[Any]]:
    """Each touched period's aggregate of `records` alone: [count, total, min, max,
    last_value, last_at µs], by (tenant, kpi, period_start). The same rules as
    `domain.rollups`: the last value is the latest observation's, the larger value winning a
    tie in time."""
    out: dict[RollupKey, list[Any]] = {}
    get = out.get
    for _key, tenant, _source, _id, kpi, at, start, value, _dims in records:
        key = (tenant, kpi, start)
        acc = get(key)
        if acc is None:
            out[key] = [1, value, value, value, value, at]
            continue
        acc[0] += 1
        acc[1] += value
        if value < acc[2]:
            acc[2] = value
        if value > acc[3]:
            acc[3] = value
        if at > acc[5] or (at == acc[5] and value > acc[4]):
            acc[4] = value
            acc[5] = at
    return out


def value_event(
    kpi: str,
    tenant: str,
    kpi_def: KpiDef,
    rollup: Aggregate,
    start: datetime,
    *,
    revision: int,
    source: str,
    now: datetime,
) -> tuple[str, bytes]:
    """The `lodestar.kpi.value.v1` CloudEvent announcing a period's new aggregate: its id and
    its JSON (the same shape `CloudEvent.to_json()` gives). A period emptied by retractions
    (count 0) says value 0, health `no_data`, last at the period's start."""
    if rollup.count:
        value = aggregate(rollup, kpi_def.aggregation)
        last_value, last_at, state = (
            rollup.last_value,
            rollup.last_at,
            str(health(value, kpi_def.bands, kpi_def.direction)),
        )
    else:
        value, last_value, last_at, state = 0.0, 0.0, start, str(Health.NO_DATA)
    data = {
        "kpi": kpi,
        "period": str(kpi_def.period),
        "period_start": start,
        "period_end": period_end(start, kpi_def.period, kpi_def.timezone),
        "aggregation": str(kpi_def.aggregation),
        "value": value,
        "count": rollup.count,
        "last_value": last_value,
        "last_at": last_at,
        "health": state,
        "direction": str(kpi_def.direction),
        "tags": kpi_def.tags,
        "revision": revision,
    }
    event_id = str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": KPI_VALUE_V1,
        "time": now,
        "subject": kpi,
        "tenant": tenant,
        "datacontenttype": "application/json",
        "data": data,
    }
    return event_id, _encode(event)


def outbox_rows(
    touched: Iterable[Sequence[Any]],
    kpis: dict[tuple[str, str], KpiDef],
    *,
    topic: str,
    source: str,
    created_at: Any,
) -> list[tuple[str, str, str, bytes, Any]]:
    """(event_id, topic, key, payload, created_at) for each touched rollup row
    (`TouchedRollup`)."""
    now = datetime.now(UTC)
    out = []
    for tenant, kpi, start, count, total, lo, hi, last_value, last_at, revision in touched:
        rollup = Aggregate(int(count), total, lo, hi, last_value, from_micros(last_at))
        event_id, payload = value_event(
            kpi,
            tenant,
            kpis[(tenant, kpi)],
            rollup,
            from_micros(start),
            revision=int(revision),
            source=source,
            now=now,
        )
        out.append((event_id, topic, f"{tenant}/{kpi}", payload, created_at))
    return out
