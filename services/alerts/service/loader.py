"""The batch loader: what one unit of evaluation needs, loaded a batch at a time in a few
queries and kept for the rest of the unit (the tenants' switches, silences and firing alerts;
the rules on the batch's subjects; the guardrails of its KPIs; the alert rows it can touch,
locked)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts.domain.matching import Silence as SilenceSpec
from services.alerts.domain.rules import RuleView, Switches
from services.alerts.repository import alerts as alerts_repo
from services.alerts.repository import guardrails as guardrails_repo
from services.alerts.repository import rules as rules_repo
from services.alerts.repository import silences as silences_repo
from services.alerts.repository import tenant_settings as settings_repo
from services.alerts.service.mapping import rule_view, silence_spec, switches_of
from services.alerts.tables import Alert, Guardrail

Target = tuple[str, str, str]  # tenant, target kind, target
Key = tuple[str, str]  # tenant, fingerprint (alerts) or tenant, KPI (guardrails)


class BatchLoader:
    """Caches by key; each `load_*` fetches only the keys it has not seen. The firing sets
    are the evaluator's to keep current as alerts change within the unit."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.silences: dict[str, list[SilenceSpec]] = {}
        self.firing: dict[str, dict[str, dict[str, str]]] = {}
        self.switches: dict[str, Switches] = {}
        self.rules: dict[Target, list[RuleView]] = {}
        self.selectors: dict[str, list[RuleView]] = {}
        self.guardrails: dict[Key, Guardrail | None] = {}
        self.alerts: dict[Key, Alert | None] = {}

    async def load_tenants(self, tenants: set[str]) -> None:
        """Switches, active silences and firing alerts of the tenants not loaded yet."""
        missing = tenants - self.switches.keys()
        if not missing:
            return
        rows = await settings_repo.of_tenants(self.session, missing)
        for tenant in missing:
            self.switches[tenant] = switches_of(rows.get(tenant))
            self.silences[tenant] = []
        for row in await silences_repo.active_of(self.session, missing, self.now):
            self.silences[row.tenant].append(silence_spec(row))
        self.firing.update(await alerts_repo.firing_labels_of(self.session, missing))

    def switches_of(self, tenant: str) -> Switches:
        return self.switches.get(tenant, Switches())

    async def load_rules(self, targets: set[Target]) -> None:
        missing = {t for t in targets if t not in self.rules}
        if not missing:
            return
        selector_tenants = {t for t, kind, _ in missing if kind == "kpi"} - self.selectors.keys()
        for key in missing:
            self.rules[key] = []
        for tenant in selector_tenants:
            self.selectors[tenant] = []
        for row in await rules_repo.for_targets(self.session, missing):
            if row.target_kind == "selector":
                if row.tenant in selector_tenants:
                    self.selectors[row.tenant].append(rule_view(row))
            else:
                self.rules[(row.tenant, row.target_kind, row.target)].append(rule_view(row))

    async def rules_for(self, tenant: str, kind: str, target: str) -> list[RuleView]:
        key = (tenant, kind, target)
        if key not in self.rules:
            await self.load_rules({key})
        rules = self.rules[key]
        if kind != "kpi":
            return rules
        # Stored order: by rule id, whether the rule names the KPI or selects it by tag.
        return sorted([*rules, *self.selectors.get(tenant, [])], key=lambda r: r.id)

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
