"""Rules as evaluation sees them: `RuleView` (a stored rule or a built-in), the built-in
catalogue a tenant switches in /v1/settings, and the small rules about when an alert needs a
row and how a rule's alerts are closed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from services.alerts.domain.conditions import Condition, ConditionKind
from services.alerts.domain.evaluation import (
    AlertState,
    AlertStatus,
    Observation,
    Policy,
    Verdict,
    step,
)

BUILTIN_KPI_RED = "builtin:kpi-red"
BUILTIN_KR_OFF_TRACK = "builtin:kr-off-track"
BUILTIN_KPI_GUARDRAIL = "builtin:kpi-guardrail-breached"


class GoalsLocation(Protocol):
    """Where goals' REST API is (the service's settings are one)."""

    @property
    def goals_url(self) -> str: ...


@dataclass(frozen=True)
class RuleView:
    """A rule as evaluation needs it: a stored rule or a built-in default."""

    id: str
    name: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    condition: Condition
    policy: Policy
    webhook_url: str | None = None
    webhook_secret: str | None = None
    selector_tags: frozenset[str] = frozenset()
    created_at: datetime | None = None


KPI_RED = RuleView(
    id=BUILTIN_KPI_RED,
    name="KpiRed",
    severity="critical",
    labels={},
    annotations={"summary": "KPI {{ $labels.kpi }} is red (value {{ $value }})"},
    condition=Condition(ConditionKind.HEALTH, band="red"),
    policy=Policy(),
)
KR_OFF_TRACK = RuleView(
    id=BUILTIN_KR_OFF_TRACK,
    name="KeyResultOffTrack",
    severity="warning",
    labels={},
    annotations={"summary": "Key result {{ $labels.key_result }} is off track"},
    condition=Condition(ConditionKind.STATUS, status="off_track"),
    policy=Policy(),
)


def guardrail_rule(goals: GoalsLocation) -> RuleView:
    """KpiGuardrailBreached: a KPI whose key result graduated left its band (amber or red).
    The alert carries `graduated_from` (the KR) and suggests promoting the KPI back to a key
    result through goals' promotion endpoint."""
    promote_url = f"{goals.goals_url}/v1/key-results/promote"
    return RuleView(
        id=BUILTIN_KPI_GUARDRAIL,
        name="KpiGuardrailBreached",
        severity="warning",
        labels={},
        annotations={
            "summary": "KPI {{ $labels.kpi }} left its guardrail band (value {{ $value }})",
            "description": (
                "KPI {{ $labels.kpi }} became a guardrail when key result "
                "{{ $labels.graduated_from }} graduated, and has now dropped out of that band. "
                "Consider promoting {{ $labels.kpi }} back to a key result: POST "
                + promote_url
                + ' with "kpi": "{{ $labels.kpi }}", an objective and a target.'
            ),
            "promote_url": promote_url,
        },
        condition=Condition(ConditionKind.HEALTH, band="amber"),
        policy=Policy(),
    )


def builtin_rules(goals: GoalsLocation) -> dict[str, RuleView]:
    """The built-in rules by id; a tenant switches each off in /v1/settings."""
    guardrail = guardrail_rule(goals)
    return {KPI_RED.id: KPI_RED, KR_OFF_TRACK.id: KR_OFF_TRACK, guardrail.id: guardrail}


@dataclass(frozen=True, slots=True)
class Switches:
    """The built-in rules a tenant has on (no settings row: all on)."""

    kpi_red: bool = True
    kr_off_track: bool = True
    guardrail_breached: bool = True


CLOSED = Observation(Verdict.CLEAR, None, fresh=False)
"""The observation that closes an alert whose rule is gone (with `closing(rule)`)."""


def closing(rule: RuleView) -> RuleView:
    """The rule with a policy that resolves at once (no keep_firing_for)."""
    return replace(rule, policy=Policy(repeat_interval=rule.policy.repeat_interval))


def on_status(rule: RuleView) -> bool:
    """A rule a key result's or objective's status (and progress) can be evaluated against."""
    return rule.condition.kind in (ConditionKind.STATUS, ConditionKind.THRESHOLD)


def keeps_memory(rule: RuleView) -> bool:
    """A rule that remembers between observations (samples of a change, the clock of no
    data) needs its row from the first observation on."""
    return (
        rule.condition.kind in (ConditionKind.CHANGE, ConditionKind.NO_DATA)
        or rule.policy.no_data_after is not None
    )


def worth_tracking(rule: RuleView, obs: Observation, now: datetime) -> bool:
    """A first observation that leaves an alert inactive needs no row, unless the rule keeps
    memory between observations."""
    if keeps_memory(rule):
        return True
    if obs.verdict in (Verdict.CLEAR, Verdict.BAND):
        return False  # an inactive alert stays inactive and says nothing
    new, events = step(AlertStatus(), obs, rule.policy, now)
    return new.state is not AlertState.INACTIVE or bool(events)
