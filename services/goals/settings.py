"""Settings of the goals service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class GoalsSettings(ServiceSettings):
    service_name: str = "goals"
    database_url: str = "sqlite+aiosqlite:///var/goals.db"
