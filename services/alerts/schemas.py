"""API shapes of the alerts service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.alerts.domain.evaluation import Operator
from shared.events import Slug


class RuleCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kpi: Slug
    operator: Operator = Field(strict=False)
    threshold: float
    for_seconds: float = Field(default=0.0, ge=0, le=7 * 86400)
    severity: str = Field(default="warning", pattern=r"^(info|warning|critical)$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class RuleRead(BaseModel):
    id: str
    name: str
    kpi: str
    operator: Operator
    threshold: float
    for_seconds: float
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    created_at: datetime


class AlertRead(BaseModel):
    fingerprint: str
    rule_id: str
    state: str
    value: float | None
    started_at: datetime | None
    ended_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
