"""Dependency aliases of the goals routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from services.goals.settings import GoalsSettings
from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession
from shared.events import utcnow


def _settings(runtime: RuntimeDep) -> GoalsSettings:
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)
    return settings


def _now() -> datetime:
    return utcnow()


SettingsDep = Annotated[GoalsSettings, Depends(_settings)]
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
