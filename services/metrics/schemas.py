"""API shapes of the metrics service. Request models are strict: JSON `false` is not a number.

Request models hold `shared.bounds`: no NUL or lone surrogate in any string, numbers within
±1e15, a measurement's time from 1970 to now plus `max_future_skew_s`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from services.metrics.domain.health import Aggregation, Direction, Health, Movement
from shared.bounds import MAX_REVISION, BoundedFloat, SafeText
from shared.events import EventTimeIn, Slug
from shared.periods import Period

Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Cadence = Annotated[
    timedelta,
    Field(
        strict=False,
        description="How often the KPI is expected to report, as an ISO 8601 duration "
        "(`PT1H`, `P1D`) or seconds, at most a year; health is `no_data` when nothing "
        "arrived within it",
        le=timedelta(days=366),
    ),
]
Threshold = BoundedFloat


def _rfc3339_duration(value: timedelta) -> str:
    """`P1D`, `PT1H30M`, `P2DT5S`: RFC 3339 durations (pydantic's default writes years and
    days together, `P1Y5D`, which RFC 3339 and JSON Schema's `duration` format refuse)."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    if not days and not time:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


CadenceOut = Annotated[timedelta, PlainSerializer(_rfc3339_duration, return_type=str)]

MAX_MEASUREMENTS_PER_REQUEST = 1000
# 32 dimensions of 128 characters keep an event under `max_event_bytes` (64 KiB) however its
# characters encode, so the consumer never refuses what HTTP accepted.
DimensionText = Annotated[str, StringConstraints(max_length=128)]


def check_bands(green: float | None, amber: float | None, direction: Direction) -> None:
    """Raise ValueError unless the thresholds are in order for the KPI's direction."""
    if amber is not None and green is None:
        raise ValueError("an amber threshold needs a green one")
    if green is not None and amber is not None:
        wrong = amber > green if direction is Direction.HIGHER else amber < green
        if wrong:
            raise ValueError("the amber threshold must be on the far side of green")


class _KpiFields(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(default="", max_length=32)
    description: str = Field(default="", max_length=4000)
    what: str = Field(default="", max_length=4000, description="What it measures")
    why: str = Field(default="", max_length=4000, description="Why it matters")
    how: str = Field(default="", max_length=4000, description="How it is measured")
    owner: str = Field(default="", max_length=200, description="Who answers for it")
    cadence: Cadence | None = None
    aggregation: Aggregation = Field(default=Aggregation.SUM, strict=False)
    period: Period = Field(default=Period.DAY, strict=False)
    direction: Direction = Field(default=Direction.HIGHER, strict=False)
    green: Threshold | None = Field(default=None, description="Green at or beyond this (inclusive)")
    amber: Threshold | None = Field(
        default=None, description="Amber at or beyond this (inclusive); red past it"
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class KpiCreate(_KpiFields):
    key: Slug

    @model_validator(mode="after")
    def _valid(self) -> KpiCreate:
        check_bands(self.green, self.amber, self.direction)
        if self.cadence is not None and self.cadence <= timedelta(0):
            raise ValueError("cadence must be positive")
        return self


class KpiUpdate(SafeText):
    """Fields to change; absent fields stay. `null` clears cadence and thresholds."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, max_length=4000)
    what: str | None = Field(default=None, max_length=4000)
    why: str | None = Field(default=None, max_length=4000)
    how: str | None = Field(default=None, max_length=4000)
    owner: str | None = Field(default=None, max_length=200)
    cadence: Cadence | None = None
    aggregation: Aggregation | None = Field(default=None, strict=False)
    period: Period | None = Field(default=None, strict=False)
    direction: Direction | None = Field(default=None, strict=False)
    green: Threshold | None = None
    amber: Threshold | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)


class BandsRead(BaseModel):
    """A KPI's health bands and the direction they are read in."""

    direction: Direction
    green: float | None
    amber: float | None


class GuardrailRead(BaseModel):
    """The graduation that made a KPI a guardrail: which key result, what it asked of each
    period, and the bands it replaced (`previous`) by which (`applied`).
    `DELETE /v1/kpis/{key}/guardrail` undoes it."""

    key_result_id: str
    kind: str
    aggregation: str | None = Field(description="How the KR folded the KPI over its window")
    target: float | None = Field(description="The KR's target (over its whole window)")
    window_periods: int | None = Field(
        description="A cumulative KR (sum, count): the KPI periods its target was spread over, "
        "so `applied.green` is the pace per period; null: judged per period as it was"
    )
    graduated_at: datetime
    previous: BandsRead
    applied: BandsRead


class KpiRead(BaseModel):
    key: str
    name: str
    unit: str
    description: str
    what: str
    why: str
    how: str
    owner: str
    cadence: CadenceOut | None
    aggregation: Aggregation
    period: Period
    direction: Direction
    green: float | None
    amber: float | None
    tags: list[str]
    guardrail: GuardrailRead | None = Field(
        default=None, description="Set when a linked key result graduated into this KPI"
    )
    created_at: datetime
    updated_at: datetime


class TrendRead(BaseModel):
    previous: float = Field(description="The previous period's value")
    delta: float
    delta_pct: float | None = Field(description="Change relative to |previous|, in percent")
    movement: Movement
    improving: bool | None = Field(description="Moved the way the KPI's direction calls good")


class KpiValueRead(BaseModel):
    """A KPI's current value: its latest period with data, its health now, and its trend."""

    kpi: str
    period: Period
    aggregation: Aggregation
    period_start: datetime | None
    period_end: datetime | None
    value: float | None
    count: int
    last_value: float | None
    last_at: datetime | None
    health: Health
    trend: TrendRead | None
    revision: int = Field(
        default=0,
        description="The period's corrections so far, as in `lodestar.kpi.value.v1`: order "
        "a period's values by (revision, count, last_at)",
    )


class SeriesPoint(BaseModel):
    start: datetime
    end: datetime
    value: float | None = Field(description="null for a bucket without data")
    count: int
    last_value: float | None = Field(
        default=None, description="The bucket's latest observation (null without data)"
    )
    last_at: datetime | None = Field(default=None, description="When it was observed")
    revision: int = Field(
        default=0,
        description="The corrections of the bucket's periods so far (their `kpi.value` "
        "revisions, summed): with count and the last time, what orders two readings of it; "
        "a period whose points were all retracted is null with a revision above 0",
    )


class SeriesRead(BaseModel):
    kpi: str
    bucket: Period
    aggregation: Aggregation
    points: list[SeriesPoint]


class DashboardTile(BaseModel):
    kpi: KpiRead
    current: KpiValueRead
    sparkline: list[SeriesPoint] = Field(description="The last periods, oldest first")


class DashboardRead(BaseModel):
    generated_at: datetime
    tiles: list[DashboardTile]


class MeasurementIn(SafeText):
    """One measurement over HTTP: the fields of the event, without the envelope. `value` is a
    finite number within ±1e15; `time` is from 1970 to now plus `max_future_skew_s` (a day by
    default)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    kpi: Slug
    value: BoundedFloat
    time: Annotated[EventTimeIn, Field(description="When it was observed")]
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Unique per source; a new UUID when absent. Resending an id is a no-op",
    )
    source: str | None = Field(
        default=None, min_length=1, max_length=512, description="Defaults to `http/<key id>`"
    )
    dimensions: dict[DimensionText, DimensionText] = Field(default_factory=dict, max_length=32)
    revision: int | None = Field(
        default=None,
        ge=0,
        le=MAX_REVISION,
        description="Restates the measurement (`source`, `id`): a higher revision than the "
        "stored one replaces its value, time and dimensions, and the period is recomputed. "
        "Needs `id`",
    )

    @model_validator(mode="after")
    def _revision_names_a_measurement(self) -> MeasurementIn:
        if self.revision and self.id is None:
            raise ValueError("a revision restates a measurement: give its 'id'")
        return self


MeasurementBatch = Annotated[
    list[MeasurementIn], Field(min_length=1, max_length=MAX_MEASUREMENTS_PER_REQUEST)
]


class RetractionIn(SafeText):
    """Withdraws the measurement (`source`, `id`) of KPI `kpi`: it stops counting in its
    period, which is recomputed. Final and idempotent; an id not stored yet is kept as a
    tombstone, and the measurement is ignored if it arrives later."""

    model_config = ConfigDict(strict=True, extra="forbid")

    kpi: Slug
    id: str = Field(min_length=1, max_length=256, description="The measurement's id")
    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="The measurement's source; defaults to `http/<key id>` (this key's own)",
    )


RetractionBatch = Annotated[
    list[RetractionIn], Field(min_length=1, max_length=MAX_MEASUREMENTS_PER_REQUEST)
]


class RetractionsAccepted(BaseModel):
    ids: list[str] = Field(description="The retraction events' ids, in the order of the request")


class MeasurementsAccepted(BaseModel):
    ids: list[str] = Field(description="The event ids, in the order of the request")
    source: str | None = Field(default=None, description="The source, when all share one")
