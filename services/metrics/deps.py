"""Dependency aliases of the metrics routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from services.metrics.settings import MetricsSettings
from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession
from shared.events import utcnow


def _now() -> datetime:
    return utcnow()


def _settings(request: Request) -> MetricsSettings:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, MetricsSettings)
    return settings


SettingsDep = Annotated[MetricsSettings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]
"""The time of the request: every use case takes `now` as a parameter, never reads a clock."""

__all__ = [
    "Admin",
    "Now",
    "ReadSession",
    "Reader",
    "RuntimeDep",
    "SettingsDep",
    "WriteSession",
    "Writer",
]
