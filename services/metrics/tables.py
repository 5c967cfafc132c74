"""The metrics service's tables: KPI definitions, raw measurements, per-period rollups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.tables import UtcDateTime, infra_metadata


class MetricsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


class Kpi(MetricsTable, table=True):
    __tablename__ = "kpis"

    tenant: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    unit: str = Field(default="", max_length=32)
    description: str = Field(default="")
    aggregation: str = Field(max_length=16)
    period: str = Field(max_length=16)
    direction: str = Field(max_length=16)
    green: float | None = None
    amber: float | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UtcDateTime)


class Measurement(MetricsTable, table=True):
    """One stored datapoint; (tenant, source, event_id) is the CloudEvent identity."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_kpi_time", "tenant", "kpi", "observed_at"),)

    tenant: str = Field(primary_key=True, max_length=64)
    source: str = Field(primary_key=True, max_length=512)
    event_id: str = Field(primary_key=True, max_length=256)
    kpi: str = Field(max_length=64)
    observed_at: datetime = Field(sa_type=UtcDateTime)
    period_start: datetime = Field(sa_type=UtcDateTime)
    value: float


class Rollup(MetricsTable, table=True):
    """A KPI period's aggregate, maintained from the newly stored points only."""

    __tablename__ = "rollups"

    tenant: str = Field(primary_key=True, max_length=64)
    kpi: str = Field(primary_key=True, max_length=64)
    period_start: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    count: int
    total: float
    minimum: float
    maximum: float
    last_value: float
    last_at: datetime = Field(sa_type=UtcDateTime)


metadata = [MetricsTable.metadata, infra_metadata]
