"""Dependency aliases of the goals routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from services.goals.metrics_client import MetricsClient
from services.goals.settings import GoalsSettings
from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession
from shared.events import utcnow


def _settings(runtime: RuntimeDep) -> GoalsSettings:
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)
    return settings


def _now() -> datetime:
    return utcnow()


def _metrics(request: Request) -> MetricsClient:
    client: MetricsClient = request.app.state.metrics
    return client


def _authorization(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    return authorization


SettingsDep = Annotated[GoalsSettings, Depends(_settings)]
MetricsDep = Annotated[MetricsClient, Depends(_metrics)]
"""The metrics REST API (built in the lifespan)."""
CallerAuthorization = Annotated[str | None, Depends(_authorization)]
"""The caller's `Authorization` header, forwarded to metrics (one key works everywhere)."""
Now = Annotated[datetime, Depends(_now)]
"""The time of the request: every use case takes `now` as a parameter, never reads a clock."""

__all__ = [
    "Admin",
    "CallerAuthorization",
    "MetricsDep",
    "Now",
    "ReadSession",
    "Reader",
    "RuntimeDep",
    "SettingsDep",
    "WriteSession",
    "Writer",
]
