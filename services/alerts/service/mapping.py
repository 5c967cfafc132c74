"""Rows ↔ the domain's values for evaluation: a stored rule as a `RuleView`, an alert row as
the state machine's `AlertStatus` (held in memory as a `LiveAlert` while a batch steps it), a
silence as matchers, a settings row as switches. API shapes are in `mappers.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from services.alerts.tables import AlertRule, Silence, TenantSettings


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


def samples_of(live: LiveAlert) -> list[Sample]:
    return [(datetime.fromisoformat(at), float(v)) for at, v in live.samples]


def store_samples(live: LiveAlert, samples: list[Sample]) -> None:
    live.samples = [[at.isoformat(), v] for at, v in samples]


def new_alert(
    rule: RuleView,
    tenant: str,
    fp: str,
    labels: dict[str, str],
    kind: str,
    subject: str,
    now: datetime,
) -> LiveAlert:
    """An alert seen for the first time (inactive; a no-data clock starts now), inserted at
    the flush."""
    last_seen = now if rule.condition.kind is ConditionKind.NO_DATA else None
    return LiveAlert(
        tenant=tenant,
        fingerprint=fp,
        rule_id=rule.id,
        subject_kind=kind,
        subject=subject,
        status=AlertStatus(last_seen_at=last_seen),
        labels=dict(labels),
        annotations=dict(rule.annotations),
        samples=[],
        silenced_by=[],
        inhibited=False,
        acked=False,
    )


@dataclass(slots=True, eq=False)
class LiveAlert:
    """An alert as a unit of evaluation steps it: its row's values in memory (read as plain
    rows, `repository.alerts.rows_*`), written back in bulk at the unit's flush. ORM entities
    cost more to load and to write than the state machine costs to step them."""

    tenant: str
    fingerprint: str
    rule_id: str
    subject_kind: str
    subject: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    samples: list[list[Any]]
    silenced_by: list[str]
    inhibited: bool
    acked: bool
    # The row as read or last written (empty: none yet, it is inserted at the flush): a
    # plain dict of its own, as `take_changes` compares with it and updates it per step.
    row: dict[str, Any] = field(default_factory=dict)
    clear_ack: bool = False
    dirty: bool = False
    due_at: datetime | None = None  # when the clock can next move it (`next_tick`)
    # The annotations are expanded again only when the value or the templates change.
    value: float | None = None
    template: dict[str, str] | None = None


def live_of(read: Mapping[Any, Any]) -> LiveAlert:
    """An alert row (`repository.alerts.ROW_COLUMNS`) as the evaluator holds it."""
    row = dict(read)
    return LiveAlert(
        tenant=row["tenant"],
        fingerprint=row["fingerprint"],
        rule_id=row["rule_id"],
        subject_kind=row["subject_kind"],
        subject=row["subject"],
        status=AlertStatus(
            state=AlertState(row["state"]),
            active_since=row["active_since"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            clear_since=row["clear_since"],
            value=row["value"],
            last_seen_at=row["last_seen_at"],
            notified=row["notified"],
            last_notified_at=row["last_notified_at"],
        ),
        labels=dict(row["labels"]),
        annotations=dict(row["annotations"]),
        samples=list(row["samples"]),
        silenced_by=list(row["silenced_by"]),
        inhibited=row["inhibited"],
        acked=row["acked_at"] is not None,
        row=row,
    )


def _columns(live: LiveAlert) -> dict[str, Any]:
    new = live.status
    return {
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
        "samples": live.samples,
        "due_at": live.due_at,
    }


def take_changes(live: LiveAlert, now: datetime) -> dict[str, Any]:
    """The columns of a stepped alert that differ from its row as read (or last written),
    its ack cleared when its alert ended, and `updated_at`; the row is then taken as written.
    Only what changed is sent: binding a column (JSON, a timestamp) costs more than comparing
    it."""
    held = live.row
    changes = {k: v for k, v in _columns(live).items() if held.get(k) != v}
    if live.clear_ack:
        changes.update(acked_by=None, acked_at=None, ack_note=None, ack_expires_at=None)
    held.update(changes)
    changes["updated_at"] = now
    return changes


def new_row(live: LiveAlert, now: datetime) -> dict[str, Any]:
    """The whole row of an alert not stored yet."""
    return {
        "tenant": live.tenant,
        "fingerprint": live.fingerprint,
        "rule_id": live.rule_id,
        "subject_kind": live.subject_kind,
        "subject": live.subject,
        "labels": live.labels,
        "kpi": live.labels.get("kpi", ""),
        "samples": live.samples,
        "acked_by": None,
        "acked_at": None,
        "ack_note": None,
        "ack_expires_at": None,
        **_columns(live),
        "updated_at": now,
    }
