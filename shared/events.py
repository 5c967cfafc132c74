"""The CloudEvents 1.0 envelope and the payloads of every event Lodestar speaks (DESIGN.md).

Every record on every topic is one structured-mode CloudEvent in JSON. (`tenant`, `source`,
`id`) is its identity: consumers deduplicate on it. Payload classes are named after their type:
`KpiValueV1` is the `data` of `lodestar.kpi.value.v1`.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from shared.bounds import MAX_REVISION, BoundedFloat, EventTime, SafeText, check_time
from shared.periods import DEFAULT_TIMEZONE, is_timezone

MEASUREMENT_V1 = "lodestar.kpi.measurement.v1"
MEASUREMENT_RETRACTED_V1 = "lodestar.kpi.measurement.retracted.v1"
KPI_VALUE_V1 = "lodestar.kpi.value.v1"
KR_PROGRESS_V1 = "lodestar.kr.progress.v1"
KR_GRADUATED_V1 = "lodestar.kr.graduated.v1"
KPI_GUARDRAIL_REMOVED_V1 = "lodestar.kpi.guardrail.removed.v1"
OBJECTIVE_CHANGED_V1 = "lodestar.objective.changed.v1"
ALERT_FIRING_V1 = "lodestar.alert.firing.v1"
ALERT_RESOLVED_V1 = "lodestar.alert.resolved.v1"
ALERT_ACKNOWLEDGED_V1 = "lodestar.alert.acknowledged.v1"
ALERT_UNACKNOWLEDGED_V1 = "lodestar.alert.unacknowledged.v1"
TENANT_V1 = "lodestar.tenant.v1"
API_KEY_V1 = "lodestar.apikey.v1"

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
"""Tenant slugs and KPI keys: lower-case, URL- and record-key-safe."""


def _known_timezone(name: str) -> str:
    if not is_timezone(name):
        raise ValueError(f"unknown timezone {name!r}: give an IANA name such as Europe/Berlin")
    return name


Timezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_timezone)]
"""An IANA timezone name the tz database knows (`shared.periods.zone`)."""


_RFC3339_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")

UtcDatetime = Annotated[datetime, AfterValidator(check_time)]
"""An aware timestamp within `shared.bounds`' window (1970 to 3000), in UTC."""


def _rfc3339_text(value: object) -> object:
    # pydantic's lax datetime also takes numbers and numeric strings ("0" is the epoch): an
    # RFC 3339 string starts with its date, and that is what the msgspec codec accepts too.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_DATE.match(value):
        raise ValueError("timestamp must be an RFC 3339 string, e.g. 2026-11-24T09:59:00Z")
    return value


TimestampIn = Annotated[
    datetime, BeforeValidator(_rfc3339_text), AfterValidator(check_time), Field(strict=False)
]
"""A timestamp in a request body: an RFC 3339 string with a zone (not a number), in UTC,
within `shared.bounds`' window."""

EventTimeIn = Annotated[EventTime, BeforeValidator(_rfc3339_text), Field(strict=False)]
"""When something was observed, in a request body: as `TimestampIn`, and no later than now
plus `max_future_skew_s`."""


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    return value


FiniteFloat = Annotated[float, AfterValidator(_finite)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class CloudEvent(SafeText):
    """A structured-mode CloudEvent with Lodestar's `tenant` extension. No string anywhere in
    it (`data` included) holds NUL or a lone surrogate; `time` is from 1970 to now plus
    `max_future_skew_s`."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    time: EventTimeIn
    subject: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    tenant: Slug
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @property
    def key(self) -> str:
        """The record key: one subject's events stay in one partition, in order."""
        return f"{self.tenant}/{self.subject}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def new_event(
    *,
    type: str,
    source: str,
    tenant: str,
    subject: str,
    data: BaseModel,
    time: datetime | None = None,
    id: str | None = None,
) -> CloudEvent:
    """A new event of ours: a fresh UUID id, `time` now unless given."""
    return CloudEvent(
        specversion="1.0",
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        time=time or utcnow(),
        subject=subject,
        tenant=tenant,
        data=data.model_dump(mode="json", by_alias=True),
    )


def own_event(
    *, type: str, source: str, tenant: str, subject: str, data: dict[str, Any], time: datetime
) -> CloudEvent:
    """A new event of ours built from values this service made, without validating them
    again: `data` is what the payload's model would dump (`model_dump(mode="json",
    by_alias=True)`), written out by the caller. The event `new_event` builds, at a third of
    its cost; for the events sent per measurement (an alert, a key result's progress), where
    building and validating the models cost more than the rest of the announcement."""
    return CloudEvent.model_construct(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=source,
        type=type,
        time=time,
        subject=subject,
        tenant=tenant,
        datacontenttype="application/json",
        data=data,
    )


def finite(value: float | None) -> float | None:
    """`value` as a `FiniteFloat | None` field holds it (a float, or None); a non-finite
    number raises the ValueError that field's validation does (data written out for
    `own_event`)."""
    return None if value is None else _finite(float(value))


class _Payload(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


class MeasurementV1(_Payload):
    """`lodestar.kpi.measurement.v1`: one observed value of the KPI named by `subject`.

    `revision` restates it: a measurement with the same (tenant, source, id) and a higher
    revision replaces the stored one (value, time, dimensions, even KPI); an equal or lower
    revision is a redelivery and changes nothing. Absent is revision 0, the original."""

    value: BoundedFloat
    dimensions: dict[str, str] = Field(default_factory=dict)
    revision: int = Field(default=0, ge=0, le=MAX_REVISION)


class MeasurementRetractedV1(_Payload):
    """`lodestar.kpi.measurement.retracted.v1` on `kpi.measurements`: withdraws the measurement
    (`source`, `id`) of the event's tenant; `subject` is the KPI (the record key stays
    `tenant/kpi`, so it is ordered with that KPI's measurements).

    Final and idempotent: a retracted measurement stays retracted, whatever revision of it
    comes later; a retraction of an id not stored (yet) is kept as a tombstone, so the
    measurement, if it arrives after, is ignored."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class KpiValueV1(_Payload):
    """`lodestar.kpi.value.v1`: the new aggregate of one KPI period, with its health."""

    kpi: str
    period: str = Field(description="day, week, month or quarter")
    period_start: Annotated[UtcDatetime, Field(strict=False)]
    period_end: Annotated[UtcDatetime, Field(strict=False)]
    aggregation: str
    value: FiniteFloat
    count: int
    last_value: FiniteFloat
    last_at: Annotated[UtcDatetime, Field(strict=False)]
    health: str = Field(description="green, amber, red, no_data or unknown")
    direction: str = "higher"
    tags: list[str] = Field(default_factory=list)
    revision: int = Field(
        default=0,
        ge=0,
        description="Per (tenant, KPI, period start), raised each time the period is "
        "recomputed from its stored points (a restated or retracted measurement); consumers "
        "keep the value with the greatest (revision, count, last_at): a correction may lower "
        "the count. count 0: every point of the period was retracted, the period has no data",
    )


class KrProgressV1(_Payload):
    """`lodestar.kr.progress.v1`: a key result's progress or status changed."""

    key_result_id: str
    objective_id: str
    cycle_id: str
    title: str
    kind: str
    current: FiniteFloat | None
    progress: FiniteFloat
    raw_progress: FiniteFloat
    expected: FiniteFloat | None
    status: str
    previous_status: str | None = None
    kpi: str | None = None
    source: str = "manual"
    periods_met: int | None = Field(
        default=None, description="KPI-linked KRs: consecutive recent periods met"
    )
    periods_elapsed: int | None = Field(
        default=None, description="KPI-linked KRs: completed KPI periods in the KR's window"
    )


class KrGraduatedV1(_Payload):
    """`lodestar.kr.graduated.v1`: a KPI-linked KR met its target long enough to become a
    guardrail; metrics sets the KPI's health band from it."""

    key_result_id: str
    kpi: str
    kind: str
    target: FiniteFloat
    bound_low: FiniteFloat | None = None
    bound_high: FiniteFloat | None = None
    periods_met: int
    direction: str | None = Field(
        default=None, description="higher or lower is better; None between two bounds"
    )
    objective_id: str | None = None
    cycle_id: str | None = None
    graduated_at: Annotated[UtcDatetime | None, Field(strict=False)] = None
    aggregation: str | None = Field(
        default=None, description="How the KR folded the KPI's periods over its window"
    )
    kpi_period: str | None = None
    window_start: Annotated[UtcDatetime | None, Field(strict=False)] = None
    window_end: Annotated[UtcDatetime | None, Field(strict=False)] = None
    start: FiniteFloat | None = None
    window_periods: int | None = Field(
        default=None,
        description="A cumulative KR (sum, count): the KPI periods of its window its numbers "
        "are spread over; null: judged per period as they are",
    )
    period_target: FiniteFloat | None = Field(
        default=None, description="What the guardrail asks of each KPI period: target (per period)"
    )
    period_bound_low: FiniteFloat | None = None
    period_bound_high: FiniteFloat | None = None
    period_start_value: FiniteFloat | None = Field(
        default=None, description="The KR's start, per period (where the pace began)"
    )


class KpiGuardrailRemovedV1(_Payload):
    """`lodestar.kpi.guardrail.removed.v1` on `kpi.values`: the guardrail the graduation of
    `key_result_id` made of the KPI was removed (`DELETE /v1/kpis/{key}/guardrail` in
    metrics), the KPI's earlier bands restored. `subject` is the KPI, so the record key is
    `tenant/kpi` and the event is ordered with that KPI's values. Alerts stops watching the
    KPI as a guardrail and resolves its `KpiGuardrailBreached`; a graduation from before
    `removed_at` delivered later does not make it a guardrail again."""

    kpi: str
    key_result_id: str
    removed_at: Annotated[UtcDatetime, Field(strict=False)]


class ObjectiveChangedV1(_Payload):
    """`lodestar.objective.changed.v1`: an objective's progress, status or state changed."""

    objective_id: str
    cycle_id: str
    title: str
    progress: FiniteFloat
    status: str
    previous_status: str | None = None
    state: str
    rollup_progress: FiniteFloat | None = Field(
        default=None, description="Progress including aligned child objectives"
    )
    rollup_status: str | None = None
    score: FiniteFloat | None = Field(default=None, description="0.0-1.0, once the cycle closed")
    parent_id: str | None = None
    team_id: str | None = None


class AlertV1(_Payload):
    """`lodestar.alert.firing.v1` / `...resolved.v1`: one alert in Alertmanager's shape."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: Annotated[UtcDatetime, Field(strict=False, alias="startsAt")]
    ends_at: Annotated[UtcDatetime | None, Field(strict=False, alias="endsAt")] = None
    generator_url: Annotated[str, Field(alias="generatorURL")]
    fingerprint: str
    value: FiniteFloat | None = None
    subject: str


class AlertAckV1(_Payload):
    """`lodestar.alert.acknowledged.v1` / `...unacknowledged.v1`: an acknowledgement put on an
    alert, or taken off it (`by` whoever removed it; `expired` when it lapsed, `by` null)."""

    fingerprint: str
    labels: dict[str, str]
    subject: str
    state: str
    by: str | None
    at: Annotated[UtcDatetime, Field(strict=False)]
    note: str | None = None
    expires_at: Annotated[UtcDatetime | None, Field(strict=False)] = None
    expired: bool = False


class TenantV1(_Payload):
    """`lodestar.tenant.v1` on the compacted `tenants` topic."""

    slug: Slug
    name: str
    timezone: Timezone = DEFAULT_TIMEZONE


class ApiKeyV1(_Payload):
    """`lodestar.apikey.v1` on the compacted `tenants` topic: a key's hash, never the key."""

    key_id: str
    tenant: Slug
    name: str
    secret_hash: str
    scopes: list[str]
    revoked_at: Annotated[UtcDatetime | None, Field(strict=False)] = None


PAYLOADS: dict[str, type[BaseModel]] = {
    MEASUREMENT_V1: MeasurementV1,
    MEASUREMENT_RETRACTED_V1: MeasurementRetractedV1,
    KPI_VALUE_V1: KpiValueV1,
    KR_PROGRESS_V1: KrProgressV1,
    KR_GRADUATED_V1: KrGraduatedV1,
    KPI_GUARDRAIL_REMOVED_V1: KpiGuardrailRemovedV1,
    OBJECTIVE_CHANGED_V1: ObjectiveChangedV1,
    ALERT_FIRING_V1: AlertV1,
    ALERT_RESOLVED_V1: AlertV1,
    ALERT_ACKNOWLEDGED_V1: AlertAckV1,
    ALERT_UNACKNOWLEDGED_V1: AlertAckV1,
    TENANT_V1: TenantV1,
    API_KEY_V1: ApiKeyV1,
}
