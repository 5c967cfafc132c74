"""What every write use case of the goals service runs with, built once per request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.goals.settings import GoalsSettings
from shared.db import AsyncSession


@dataclass(frozen=True, slots=True)
class Write:
    """A write's transaction (`session`, committed by the caller), the caller's `tenant` and
    key (`key_id`, the author of a manual check-in), the settings, and `now`: the time of the
    request (a use case never reads a clock)."""

    session: AsyncSession
    tenant: str
    key_id: str
    settings: GoalsSettings
    now: datetime
