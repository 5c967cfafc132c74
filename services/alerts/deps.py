"""Dependency aliases of the alerts routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.alerts.settings import AlertsSettings
from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession


def _settings(runtime: RuntimeDep) -> AlertsSettings:
    settings = runtime.settings
    assert isinstance(settings, AlertsSettings)
    return settings


SettingsDep = Annotated[AlertsSettings, Depends(_settings)]

__all__ = [
    "Admin",
    "ReadSession",
    "Reader",
    "RuntimeDep",
    "SettingsDep",
    "WriteSession",
    "Writer",
]
