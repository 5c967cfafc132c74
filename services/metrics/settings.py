"""Settings of the metrics service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    service_name: str = "metrics"
    database_url: str = "sqlite+aiosqlite:///var/metrics.db"
