"""Dependency aliases of the metrics routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.metrics.settings import MetricsSettings
from shared.api import (
    Admin,
    Now,
    Reader,
    ReadSession,
    RuntimeDep,
    Writer,
    WriteSession,
    settings_of,
)

SettingsDep = Annotated[MetricsSettings, Depends(settings_of(MetricsSettings))]

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
