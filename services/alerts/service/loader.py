"""The batch loader: what one unit of evaluation needs, loaded a batch at a time in a few
queries and kept for the rest of the unit (the tenants' definitions — rules, switches,
silences — from the `DefinitionCache`, their firing alerts; the guardrails and newest
periods of its KPIs; the alert rows it can touch, locked), and what of it changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.alerts.domain.labels import identity
from services.alerts.domain.matching import Silence as SilenceSpec
from services.alerts.domain.rules import RuleView, Switches
from services.alerts.repository import alerts as alerts_repo
from services.alerts.repository import guardrails as guardrails_repo
from services.alerts.repository import kpi_periods as kpi_periods_repo
from services.alerts.repository.kpi_periods import Period
from services.alerts.service.definitions import DefinitionCache, TenantDefinitions
from services.alerts.service.mapping import LiveAlert, live_of, new_row, take_changes
from services.alerts.tables import Guardrail
from shared.db import AsyncSession

Key = tuple[str, str]  # tenant, fingerprint (alerts) or tenant, KPI (guardrails)


class BatchLoader:
    """Caches by key; each `load_*` fetches only the keys it has not seen. The firing sets
    are the evaluator's to keep current as alerts change within the unit."""

    def __init__(self, session: AsyncSession, now: datetime, definitions: DefinitionCache) -> None:
        self.session = session
        self.now = now
        self.definitions = definitions
        self.tenants: dict[str, TenantDefinitions] = {}
        self.silences: dict[str, tuple[SilenceSpec, ...]] = {}
        # (tenant, KPI) → fingerprint → labels of the firing alerts on that KPI: the only
        # possible inhibitors of an alert with that `kpi` label (`domain.matching`).
        self.firing: dict[Key, dict[str, dict[str, str]]] = {}
        self.guardrails: dict[Key, Guardrail | None] = {}
        self.alerts: dict[Key, LiveAlert | None] = {}
        # (tenant, KPI) → its newest period as read or moved on, and the ones moved on.
        self.periods: dict[Key, Period | None] = {}
        self.moved: dict[Key, Period] = {}

    async def load_tenants(self, tenants: set[str]) -> None:
        """Definitions (current as of this transaction) of the tenants not loaded yet. The
        silences are the unexpired ones; `silenced_by` judges them at `now`."""
        missing = tenants - self.tenants.keys()
        if not missing:
            return
        found = await self.definitions.current(self.session, missing, self.now)
        self.tenants.update(found)
        self.silences.update({tenant: d.silences for tenant, d in found.items()})

    async def load_firing(self, keys: set[Key]) -> None:
        """The firing alerts on these (tenant, KPI) not loaded yet. A KPI of "" (an alert
        without a `kpi` label) has none: nothing without one can inhibit."""
        missing = {k for k in keys if k not in self.firing and k[1]}
        if missing:
            self.firing.update(await alerts_repo.firing_on_kpis(self.session, missing))

    def firing_on(self, tenant: str, kpi: str) -> dict[str, dict[str, str]]:
        """The loaded firing set of one KPI, kept current by the evaluator as alerts move."""
        return self.firing.setdefault((tenant, kpi), {})

    def identity(
        self, rule: RuleView, tenant: str, subject: dict[str, str]
    ) -> tuple[dict[str, str], str]:
        """An alert's labels and fingerprint (the tenant's definitions memoise them)."""
        held = self.tenants.get(tenant)
        return held.identity(rule, tenant, subject) if held else identity(rule, tenant, subject)

    def switches_of(self, tenant: str) -> Switches:
        held = self.tenants.get(tenant)
        return held.switches if held is not None else Switches()

    async def rules_for(self, tenant: str, kind: str, target: str) -> list[RuleView]:
        """Enabled rules on the target (a KPI's with its tenant's tag selectors), id order."""
        if tenant not in self.tenants:
            await self.load_tenants({tenant})
        return self.tenants[tenant].rules_for(kind, target)

    async def load_guardrails(self, keys: set[Key]) -> None:
        missing = {k for k in keys if k not in self.guardrails}
        if missing:
            found = await guardrails_repo.of_kpis(self.session, missing)
            for key in missing:
                self.guardrails[key] = found.get(key)

    async def guardrail(self, tenant: str, kpi: str) -> Guardrail | None:
        key = (tenant, kpi)
        if key not in self.guardrails:
            await self.load_guardrails({key})
        return self.guardrails[key]

    async def load_alerts(self, keys: set[Key]) -> None:
        missing = {k for k in keys if k not in self.alerts}
        if missing:
            found = await alerts_repo.rows_by_fingerprint(self.session, missing)
            for key in missing:
                row = found.get(key)
                self.alerts[key] = live_of(row) if row is not None else None

    def hold(self, live: LiveAlert) -> LiveAlert:
        """The unit's one copy of an alert read outside `load_alerts` (the clock's, a
        closing's): the one already held if the unit stepped it."""
        key = (live.tenant, live.fingerprint)
        held = self.alerts.get(key)
        if held is None:
            held = self.alerts[key] = live
        return held

    def changed_rows(self, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows to insert and the changes to write of the alerts stepped since the last
        call; they are taken as written."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for live in self.alerts.values():
            if live is None or not live.dirty:
                continue
            if live.row:
                key = {"tenant": live.tenant, "fingerprint": live.fingerprint}
                updates.append({**key, **take_changes(live, now)})
            else:
                live.row = new_row(live, now)
                inserts.append(live.row)
            live.dirty = live.clear_ack = False
        return inserts, updates

    async def load_periods(self, keys: set[Key]) -> None:
        # Not `keys - self.periods.keys()`: a set minus a dict's keys walks every key held,
        # and `newest_period` asks for one key per value (4 % of the handler at 200 a batch).
        missing = {key for key in keys if key not in self.periods}
        if missing:
            rows = await kpi_periods_repo.of(self.session, missing)
            self.periods.update({key: rows.get(key) for key in missing})

    async def newest_period(self, tenant: str, kpi: str) -> Period | None:
        await self.load_periods({(tenant, kpi)})  # loaded already if the batch was prepared
        return self.periods[(tenant, kpi)]

    def move_period(self, tenant: str, kpi: str, period: Period) -> None:
        self.periods[(tenant, kpi)] = self.moved[(tenant, kpi)] = period
