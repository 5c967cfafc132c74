"""The definitions cache: a tenant's enabled rules (indexed by target), unexpired silences and
built-in switches, kept between batches and reloaded only when the tenant's definitions
version (`definition_versions`) has moved.

Every write that changes a rule, a silence or a setting bumps the version in its own
transaction (`bump`), and every unit of evaluation reads the versions of its tenants in one
query before it uses the cache, so a change committed before a batch starts is seen by that
batch, whichever replica on the same database made it. The version is read before the
definitions are: a reload may see newer rows than the version it records, never older ones,
so the worst a race costs is one more reload. A silence's activity depends on the time: the
cache holds the silences not ended when loaded, and each batch judges which are active at its
own `now` (`domain.matching.silenced_by`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.alerts.domain.labels import identity
from services.alerts.domain.matching import Silence as SilenceSpec
from services.alerts.domain.rules import RuleView, Switches
from services.alerts.repository import definitions as repository
from services.alerts.repository import tenant_settings as settings_repo
from services.alerts.service.mapping import rule_view, silence_spec, switches_of
from shared.db import AsyncSession


async def bump(session: AsyncSession, tenant: str) -> None:
    """The tenant's rules, silences or settings change in this transaction."""
    await repository.bump(session, tenant)


async def all_versions(session: AsyncSession) -> dict[str, int]:
    """Every tenant's definitions version as of this transaction (the ticker's: it looks at
    all the alerts of a tenant whose definitions moved since its last tick)."""
    return await repository.all_versions(session)


@dataclass
class TenantDefinitions:
    """One tenant's definitions at one version; read-only once built but for the memo."""

    version: int
    switches: Switches
    silences: tuple[SilenceSpec, ...]
    rules: dict[tuple[str, str], list[RuleView]]  # (target kind, target) → rules
    selectors: list[RuleView]  # the tag-selector rules (the caller matches the tags)
    _kpi_rules: dict[str, list[RuleView]] = field(default_factory=dict)
    _identities: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[dict[str, str], str]] = field(
        default_factory=dict
    )

    def identity(
        self, rule: RuleView, tenant: str, subject: dict[str, str]
    ) -> tuple[dict[str, str], str]:
        """An alert's labels and fingerprint, memoised for as long as this version is: a
        rule's labels change only with a new one (hashing them is per event otherwise)."""
        key = (rule.id, tuple(subject.items()))
        found = self._identities.get(key)
        if found is None:
            found = self._identities[key] = identity(rule, tenant, subject)
        return found

    def rules_for(self, kind: str, target: str) -> list[RuleView]:
        """The rules on one target; a KPI's with the selector rules, in rule id order."""
        if kind != "kpi":
            return self.rules.get((kind, target), [])
        found = self._kpi_rules.get(target)
        if found is None:
            named = self.rules.get((kind, target), [])
            found = sorted([*named, *self.selectors], key=lambda r: r.id)
            self._kpi_rules[target] = found
        return found


class DefinitionCache:
    """Process-wide; one per evaluation loop (a throwaway one loads afresh each time)."""

    def __init__(self) -> None:
        self._tenants: dict[str, TenantDefinitions] = {}
        self.reloads = 0  # tenants loaded, for tests and profiling

    async def current(
        self, session: AsyncSession, tenants: Iterable[str], now: datetime
    ) -> dict[str, TenantDefinitions]:
        """The definitions of `tenants` as of this transaction: one query for the versions,
        three more only if some tenant's version moved."""
        versions = await repository.versions_of(session, tenants)
        stale = {
            tenant: version
            for tenant, version in versions.items()
            if (held := self._tenants.get(tenant)) is None or held.version != version
        }
        if stale:
            await self._load(session, stale, now)
        return {tenant: self._tenants[tenant] for tenant in versions}

    async def _load(self, session: AsyncSession, versions: dict[str, int], now: datetime) -> None:
        settings = await settings_repo.of_tenants(session, versions)
        rules: dict[str, dict[tuple[str, str], list[RuleView]]] = {t: {} for t in versions}
        selectors: dict[str, list[RuleView]] = {t: [] for t in versions}
        for row in await repository.enabled_rules_of(session, versions):
            view = rule_view(row)
            if row.target_kind == "selector":
                selectors[row.tenant].append(view)
            else:
                rules[row.tenant].setdefault((row.target_kind, row.target), []).append(view)
        silences: dict[str, list[SilenceSpec]] = {t: [] for t in versions}
        for silence in await repository.unexpired_silences_of(session, versions, now):
            silences[silence.tenant].append(silence_spec(silence))
        for tenant, version in versions.items():
            self._tenants[tenant] = TenantDefinitions(
                version=version,
                switches=switches_of(settings.get(tenant)),
                silences=tuple(silences[tenant]),
                rules=rules[tenant],
                selectors=selectors[tenant],
            )
        self.reloads += len(versions)
