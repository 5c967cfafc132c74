"""Rows ↔ the domain's values for evaluation: a stored rule as a `RuleView`, an alert row as
the state machine's `AlertStatus` (held in memory as a `LiveAlert` while a batch steps it), a
silence as matchers, a settings row as switches. API shapes are in `mappers.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.alerts.domain.conditions import (
    ChangeMode,
    Condition,
    ConditionKind,
    Operator,
    Sample,
)
from services.alerts.domain.evaluation import AlertState, AlertStatus, Policy
from services.alerts.domain.matching import Matcher, MatchOp
from services.alerts.domain.matching import Silence as SilenceSpec
from services.alerts.domain.rules import RuleView, Switches
from services.alerts.tables import Alert, AlertRule, Silence, TenantSettings


def rule_view(rule: AlertRule) -> RuleView:
    kind = ConditionKind(rule.condition)
    no_data = timedelta(seconds=rule.no_data_seconds) if rule.no_data_seconds else None
    return RuleView(
        id=rule.id,
        name=rule.name,
        severity=rule.severity,
        labels=dict(rule.labels),
        annotations=dict(rule.annotations),
        condition=Condition(
            kind=kind,
            operator=Operator(rule.operator),
            threshold=rule.threshold,
            resolve_threshold=rule.resolve_threshold,
            band=rule.health,
            status=rule.status,
            window=timedelta(seconds=rule.window_seconds) if rule.window_seconds else None,
            change_mode=ChangeMode(rule.change),
            no_data_for=no_data if kind is ConditionKind.NO_DATA else None,
        ),
        policy=Policy(
            for_=timedelta(seconds=rule.for_seconds),
            keep_firing_for=timedelta(seconds=rule.keep_firing_for_seconds),
            repeat_interval=timedelta(seconds=rule.repeat_interval_seconds),
            # A no_data *condition* fires on silence; other rules go to the no_data state.
            no_data_after=None if kind is ConditionKind.NO_DATA else no_data,
        ),
        webhook_url=rule.webhook_url,
        webhook_secret=rule.webhook_secret,
        selector_tags=frozenset(rule.selector_tags),
        created_at=rule.created_at,
    )


def silence_spec(row: Silence) -> SilenceSpec:
    return SilenceSpec(
        id=row.id,
        matchers=tuple(Matcher(m["name"], MatchOp(m["op"]), m["value"]) for m in row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


def switches_of(row: TenantSettings | None) -> Switches:
    if row is None:
        return Switches()
    return Switches(row.kpi_red, row.kr_off_track, row.guardrail_breached)


def samples_of(alert: Alert) -> list[Sample]:
    return [(datetime.fromisoformat(at), float(v)) for at, v in alert.samples]


def store_samples(alert: Alert, samples: list[Sample]) -> None:
    alert.samples = [[at.isoformat(), v] for at, v in samples]


def new_alert(
    rule: RuleView,
    tenant: str,
    fp: str,
    labels: dict[str, str],
    kind: str,
    subject: str,
    now: datetime,
) -> Alert:
    """The row of an alert seen for the first time (inactive; a no-data clock starts now).

    Every field with a default factory is given: for a missing one SQLModel asks pydantic
    for the default, which inspects the factory's signature each time (~300 µs a row, 12% of
    the alerts process at 1,000 KPIs, py-spy)."""
    return Alert(
        tenant=tenant,
        fingerprint=fp,
        rule_id=rule.id,
        subject_kind=kind,
        subject=subject,
        state=AlertState.INACTIVE.value,
        labels=dict(labels),
        annotations=dict(rule.annotations),
        last_seen_at=now if rule.condition.kind is ConditionKind.NO_DATA else None,
        samples=[],
        silenced_by=[],
        updated_at=now,
    )


@dataclass(slots=True, eq=False)
class LiveAlert:
    """An alert as a batch steps it: its state in memory, written to the row at the batch's
    flush (setting ORM attributes per event cost more than the state machine itself)."""

    alert: Alert
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    silenced_by: list[str]
    inhibited: bool
    acked: bool
    clear_ack: bool = False
    dirty: bool = False
    # The annotations are expanded again only when the value or the templates change.
    value: float | None = None
    template: dict[str, str] | None = None


def live_of(alert: Alert) -> LiveAlert:
    return LiveAlert(
        alert=alert,
        status=AlertStatus(
            state=AlertState(alert.state),
            active_since=alert.active_since,
            started_at=alert.started_at,
            ended_at=alert.ended_at,
            clear_since=alert.clear_since,
            value=alert.value,
            last_seen_at=alert.last_seen_at,
            notified=alert.notified,
            last_notified_at=alert.last_notified_at,
        ),
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        silenced_by=list(alert.silenced_by),
        inhibited=alert.inhibited,
        acked=alert.acked_at is not None,
    )


def row_changes(live: LiveAlert, now: datetime) -> dict[str, Any]:
    """The column values of a stepped alert (its ack cleared when its alert ended)."""
    new = live.status
    changes: dict[str, Any] = {
        "state": new.state.value,
        "active_since": new.active_since,
        "started_at": new.started_at,
        "ended_at": new.ended_at,
        "clear_since": new.clear_since,
        "value": new.value,
        "last_seen_at": new.last_seen_at,
        "notified": new.notified,
        "last_notified_at": new.last_notified_at,
        "silenced_by": live.silenced_by,
        "inhibited": live.inhibited,
        "annotations": live.annotations,
        "updated_at": now,
    }
    if live.clear_ack:
        changes.update(acked_by=None, acked_at=None, ack_note=None, ack_expires_at=None)
    return changes
