"""Settings of the alerts service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class AlertsSettings(ServiceSettings):
    service_name: str = "alerts"
    database_url: str = "sqlite+aiosqlite:///var/alerts.db"
