"""The goals service: OKRs over REST; the issuer of API keys.

Run it: `uvicorn services.goals.app:create_app --factory`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.goals.routes import api_keys, cycles, initiatives, key_results, objectives, teams
from services.goals.settings import GoalsSettings
from shared.app import build_service_app


def create_app(settings: GoalsSettings | None = None) -> FastAPI:
    settings = settings or GoalsSettings()
    return build_service_app(
        title="Lodestar goals",
        description="Cycles, teams, objectives, key results, check-ins and scoring.",
        settings=settings,
        routers=[
            cycles.router,
            teams.router,
            objectives.router,
            key_results.router,
            initiatives.router,
            api_keys.router,
        ],
        migrations=Path(__file__).parent / "migrations",
        # goals issues the keys the others learn from `tenants`; it needs no copy of them.
        identity=False,
    )
