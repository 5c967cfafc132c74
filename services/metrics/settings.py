"""Settings of the metrics service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    service_name: str = "metrics"
    database_url: str = "sqlite+aiosqlite:///var/metrics.db"
    gc_freeze: bool = Field(
        default=True,
        description="Freeze start-up objects and collect less often (see app._tune_gc)",
    )
