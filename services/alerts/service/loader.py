"""The batch loader: what one unit of evaluation needs, loaded a batch at a time in a few
queries and kept for the rest of the unit (the tenants' definitions — rules, switches,
silences — from the `DefinitionCache`, their firing alerts; the guardrails of its KPIs; the
alert rows it can touch, locked)."""

from __future__ import annotations

from datetime import datetime

from services.alerts.domain.matching import Silence as SilenceSpec
from services.alerts.domain.rules import RuleView, Switches
from services.alerts.repository import alerts as alerts_repo
from services.alerts.repository import guardrails as guardrails_repo
from services.alerts.service.definitions import DefinitionCache, TenantDefinitions
from services.alerts.tables import Alert, Guardrail
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
        self.alerts: dict[Key, Alert | None] = {}

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
            found = await alerts_repo.by_fingerprint(self.session, missing)
            for key in missing:
                self.alerts[key] = found.get(key)
