"""Background loops of the goals service, supervised by the runtime: the status timer. Time
alone moves a status (pace, a KPI gone quiet past its cadence, a KPI period completing toward
graduation), so every open cycle is re-evaluated on an interval and what changed is announced
like any other change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from services.goals.service import cycles
from services.goals.settings import GoalsSettings
from shared.db import Database
from shared.supervisor import BackgroundLoop

log = structlog.get_logger(__name__)


async def tick(db: Database, settings: GoalsSettings, now: datetime) -> int:
    """Re-evaluate every open cycle of every tenant at `now`, one transaction per cycle (so
    the writer lock is held briefly); returns how many cycles were re-evaluated."""
    async with db.session() as session:
        work = await cycles.open_cycles(session)
    done = 0
    for tenant, cycle_id in work:
        async with db.transaction() as session:
            if await cycles.refresh_by_timer(session, settings, tenant, cycle_id, now):
                done += 1
    return done


class StatusTimer(BackgroundLoop):
    """Runs `tick` every `interval_s` until `request_stop()`."""

    def __init__(
        self, db: Database, settings: GoalsSettings, clock: Callable[[], datetime]
    ) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._clock = clock

    async def run(self) -> None:
        while not self.stopping:
            await self.pause(self._settings.status_timer_interval_s)
            if self.stopping:
                return
            cycles_done = await tick(self._db, self._settings, self._clock())
            log.debug("status_timer_tick", cycles=cycles_done)
