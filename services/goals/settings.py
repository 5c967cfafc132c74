"""Settings of the goals service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from pydantic import Field

from services.goals.domain.progress import Thresholds
from shared.settings import ServiceSettings


class GoalsSettings(ServiceSettings):
    service_name: str = "goals"
    database_url: str = "sqlite+aiosqlite:///var/goals.db"
    # Per-tenant quota of keys not revoked (409 past it).
    max_api_keys_per_tenant: int = 100
    # Status from pace (DESIGN.md): on track from 0.7 x expected, at risk from 0.5 x, and no
    # judgement in the first 10 % of a KR's window.
    status_on_track: float = Field(default=0.7, gt=0, le=1)
    status_at_risk: float = Field(default=0.5, ge=0, le=1)
    status_too_early: float = Field(default=0.1, ge=0, lt=1)
    # The KPI <-> OKR loop: where metrics answers (env LODESTAR_METRICS_URL), how long a call
    # may take, how many consecutive met KPI periods graduate a linked KR, and how often the
    # timer re-judges what time alone changes (pace, staleness, completed periods).
    metrics_url: str = "http://127.0.0.1:8002"
    metrics_timeout_s: float = Field(default=5.0, gt=0)
    graduation_periods: int = Field(default=3, ge=1)
    status_timer_interval_s: float = Field(default=60.0, gt=0)
    # console: where the console's same-origin proxy finds alerts (env LODESTAR_ALERTS_URL).
    alerts_url: str = "http://127.0.0.1:8003"

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            on_track=self.status_on_track,
            at_risk=self.status_at_risk,
            too_early=self.status_too_early,
        )
