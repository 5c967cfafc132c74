"""Dependency aliases of the alerts routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.alerts.settings import AlertsSettings
from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession, settings_of

SettingsDep = Annotated[AlertsSettings, Depends(settings_of(AlertsSettings))]

__all__ = [
    "Admin",
    "ReadSession",
    "Reader",
    "RuntimeDep",
    "SettingsDep",
    "WriteSession",
    "Writer",
]
