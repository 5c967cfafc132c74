"""The metrics service's tables: KPI definitions, raw measurements, per-period rollups.

Times of measurements and rollups are stored as integer microseconds since the Unix epoch
(`EpochMicros`), not as `UtcDateTime`: the ingest hot path writes them with raw SQL on both
SQLite and PostgreSQL, and an integer is the one representation both store, compare and index
the same way without per-value conversion. The ORM still sees aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    LargeBinary,
    false,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.tables import AwareDateTime, UtcDateTime, infra_metadata

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime."""
    return (value - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class EpochMicros(AwareDateTime):
    """An aware UTC datetime stored as BIGINT microseconds since the Unix epoch."""

    impl = BigInteger
    cache_ok = True

    def bind_aware(self, value: datetime, dialect: Dialect) -> int:
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class MetricsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


class Kpi(MetricsTable, table=True):
    __tablename__ = "kpis"

    tenant: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    unit: str = Field(default="", max_length=32)
    description: str = Field(default="")
    what: str = Field(default="")
    why: str = Field(default="")
    how: str = Field(default="")
    owner: str = Field(default="", max_length=200)
    cadence_s: int | None = Field(default=None, sa_type=BigInteger)
    aggregation: str = Field(max_length=16)
    period: str = Field(max_length=16)
    direction: str = Field(max_length=16)
    green: float | None = None
    amber: float | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The graduation that made the KPI a guardrail (`schemas.GuardrailRecord` as JSON: which
    # KR, and the bands and direction before and after), null when it is none.
    guardrail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class Measurement(MetricsTable, table=True):
    """One stored datapoint; (tenant, source, event_id) is the CloudEvent identity, and `id`,
    its 16-byte digest (`ingest.rows.identity`), the key that makes ingest idempotent.

    A fixed 16-byte key keeps the unique index a third of the size of one on the three texts,
    so it stays in the page cache and each batch dirties fewer index pages.
    On SQLite the implicit rowid grows with every insert, which is how the hot path finds the
    rows a batch newly inserted (rowid above the batch's starting high-water mark).

    Corrections (`ingest/corrections.py`) change a row in place: a restatement raises its
    `revision` and replaces what it says; a retraction sets `retracted`, and stays, as the
    tombstone that keeps the id from being stored again (a retraction of an id never stored
    is such a row too, with value 0 at the retraction's time). The hot path writes neither
    column (the defaults), and rollups count only rows not retracted. The index on the period
    is what a correction recomputes its period from."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_period", "tenant", "kpi", "period_start"),)

    id: bytes = Field(primary_key=True, sa_type=LargeBinary(16))
    tenant: str = Field(max_length=64)
    source: str = Field(max_length=512)
    event_id: str = Field(max_length=256)
    kpi: str = Field(max_length=64)
    observed_at: datetime = Field(sa_type=EpochMicros)
    period_start: datetime = Field(sa_type=EpochMicros)
    value: float
    dimensions: str | None = Field(default=None, description="JSON object, when given")
    revision: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    retracted: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class Rollup(MetricsTable, table=True):
    """A KPI period's aggregate, maintained from the newly stored points only.

    `last_value` is the value of the latest observation; between observations at the same
    instant the larger value wins, so the rollup does not depend on arrival order.

    `revision` counts the recomputations of the period from its stored points (corrections);
    the hot path's merges leave it as it is. A period whose every point was retracted keeps
    its row (and so its revision) with count 0 and the neutral elements of the merge (min +inf,
    max -inf, last_at -1), so a later point merges into it as into no row; readers skip it
    (`repository.rollups`)."""

    __tablename__ = "rollups"

    tenant: str = Field(primary_key=True, max_length=64)
    kpi: str = Field(primary_key=True, max_length=64)
    period_start: datetime = Field(primary_key=True, sa_type=EpochMicros)
    count: int = Field(sa_type=BigInteger)
    total: float
    minimum: float
    maximum: float
    last_value: float
    last_at: datetime = Field(sa_type=EpochMicros)
    revision: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


metadata = [MetricsTable.metadata, infra_metadata]
