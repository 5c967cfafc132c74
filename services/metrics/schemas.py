"""API shapes of the metrics service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.metrics.domain.health import Aggregation, Direction
from services.metrics.domain.periods import Period
from shared.events import Slug


class KpiCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    key: Slug
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(default="", max_length=32)
    description: str = Field(default="", max_length=4000)
    aggregation: Aggregation = Field(default=Aggregation.SUM, strict=False)
    period: Period = Field(default=Period.DAY, strict=False)
    direction: Direction = Field(default=Direction.HIGHER, strict=False)
    green: float | None = Field(default=None, description="Green at or beyond this (inclusive)")
    amber: float | None = Field(default=None, description="Amber at or beyond this (inclusive)")
    tags: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _bands_in_order(self) -> KpiCreate:
        if self.amber is not None and self.green is None:
            raise ValueError("an amber threshold needs a green one")
        if self.green is not None and self.amber is not None:
            wrong = (
                self.amber > self.green
                if self.direction is Direction.HIGHER
                else (self.amber < self.green)
            )
            if wrong:
                raise ValueError("the amber threshold must be on the far side of green")
        return self


class KpiRead(BaseModel):
    key: str
    name: str
    unit: str
    description: str
    aggregation: Aggregation
    period: Period
    direction: Direction
    green: float | None
    amber: float | None
    tags: list[str]
    created_at: datetime
