"""The alerts service's tables: rules, and the state of each alert by fingerprint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.tables import UtcDateTime, infra_metadata


class AlertsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


class AlertRule(AlertsTable, table=True):
    __tablename__ = "alert_rules"

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    kpi: str = Field(index=True, max_length=64)
    operator: str = Field(max_length=16)
    threshold: float
    for_seconds: float = 0.0
    severity: str = Field(max_length=16)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(sa_type=UtcDateTime)


class Alert(AlertsTable, table=True):
    """One alert, identified by the fingerprint of its labels, in its current state."""

    __tablename__ = "alerts"

    tenant: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(primary_key=True, max_length=32)
    rule_id: str = Field(index=True, max_length=36)
    state: str = Field(max_length=16)
    value: float | None = None
    active_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated_at: datetime = Field(sa_type=UtcDateTime)


metadata = [AlertsTable.metadata, infra_metadata]
