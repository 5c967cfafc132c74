"""Evaluation: KPI values, KR progress, objective changes, graduations and the clock, stepped
through the pure state machine; transitions go to history, notifications to the outbox (the
`alerts` topic) and to the webhook deliveries table, all in the caller's transaction. Never
commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.alerts import repository
from services.alerts.domain.conditions import (
    ChangeMode,
    Condition,
    ConditionKind,
    Operator,
    Sample,
    absent_verdict,
    kpi_verdict,
    status_verdict,
    trim_samples,
)
from services.alerts.domain.evaluation import (
    ACTIVE_STATES,
    AlertState,
    AlertStatus,
    Marks,
    Notify,
    Observation,
    Policy,
    Transitioned,
    Verdict,
    fingerprint,
    step,
)
from services.alerts.domain.matching import (
    Matcher,
    MatchOp,
    inhibited,
    silenced_by,
)
from services.alerts.domain.matching import (
    Silence as SilenceSpec,
)
from services.alerts.domain.templates import expand_all
from services.alerts.domain.webhooks import webhook_body
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert, AlertRule, Guardrail, WebhookDelivery
from shared.events import (
    ALERT_FIRING_V1,
    ALERT_RESOLVED_V1,
    AlertV1,
    CloudEvent,
    KpiValueV1,
    KrGraduatedV1,
    KrProgressV1,
    ObjectiveChangedV1,
)
from shared.outbox import enqueue

BUILTIN_KPI_RED = "builtin:kpi-red"
BUILTIN_KR_OFF_TRACK = "builtin:kr-off-track"
BUILTIN_KPI_GUARDRAIL = "builtin:kpi-guardrail-breached"


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


def guardrail_rule(settings: AlertsSettings) -> RuleView:
    """KpiGuardrailBreached: a KPI whose key result graduated left its band (amber or red).
    The alert carries `graduated_from` (the KR) and suggests promoting the KPI back to a key
    result through goals' promotion endpoint."""
    promote_url = f"{settings.goals_url}/v1/key-results/promote"
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


def builtin_rules(settings: AlertsSettings) -> dict[str, RuleView]:
    """The built-in rules by id; a tenant switches each off in /v1/settings."""
    guardrail = guardrail_rule(settings)
    return {KPI_RED.id: KPI_RED, KR_OFF_TRACK.id: KR_OFF_TRACK, guardrail.id: guardrail}


def _status_of(alert: Alert) -> AlertStatus:
    return AlertStatus(
        state=AlertState(alert.state),
        active_since=alert.active_since,
        started_at=alert.started_at,
        ended_at=alert.ended_at,
        clear_since=alert.clear_since,
        value=alert.value,
        last_seen_at=alert.last_seen_at,
        notified=alert.notified,
        last_notified_at=alert.last_notified_at,
    )


@dataclass(slots=True, eq=False)
class _Live:
    """An alert as a batch steps it: its state in memory, written to the row at `flush()`
    (setting ORM attributes per event cost more than the state machine itself)."""

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


def alert_event(
    *, source: str, tenant: str, fingerprint: str, data: AlertV1, at: datetime
) -> CloudEvent:
    """The `lodestar.alert.firing.v1` / `...resolved.v1` event of an alert, built from values
    this service made (so without validating them again: the same event `new_event` builds,
    at a fraction of the cost per alert)."""
    return CloudEvent.model_construct(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=source,
        type=ALERT_FIRING_V1 if data.status == "firing" else ALERT_RESOLVED_V1,
        time=at,
        subject=fingerprint,
        tenant=tenant,
        datacontenttype="application/json",
        data=data.model_dump(mode="json", by_alias=True),
    )


def _samples(alert: Alert) -> list[Sample]:
    return [(datetime.fromisoformat(at), float(v)) for at, v in alert.samples]


@dataclass(frozen=True, slots=True)
class Switches:
    """The built-in rules a tenant has on (no settings row: all on)."""

    kpi_red: bool = True
    kr_off_track: bool = True
    guardrail_breached: bool = True


Subject = tuple[RuleView, str, str, dict[str, str]]  # rule, subject kind, subject, labels
Inputs = KpiValueV1 | KrProgressV1 | ObjectiveChangedV1 | KrGraduatedV1
INPUTS = (KpiValueV1, KrProgressV1, ObjectiveChangedV1, KrGraduatedV1)


class Evaluator:
    """One unit of evaluation work inside one transaction (a consumer batch, a tick, a call).

    Set-based: `evaluate(batch)` loads what the batch needs with a few queries (the tenants'
    switches, silences and firing alerts; the rules on the batch's subjects; the guardrails of
    its KPIs; the alert rows the batch can touch, locked), steps each alert in memory through
    the pure state machine, event after event in order, and writes the changes in bulk at
    `flush()`: the changed alert rows, the history lines, the outbox events. The firing set is
    kept current as alerts change, so inhibition inside one batch sees the alerts fired
    earlier in it. Nothing reaches the session's database before `flush()`.
    """

    def __init__(self, session: AsyncSession, settings: AlertsSettings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.builtins = builtin_rules(settings)
        self._silences: dict[str, list[SilenceSpec]] = {}
        self._firing: dict[str, dict[str, dict[str, str]]] = {}
        self._switches: dict[str, Switches] = {}
        self._rules: dict[tuple[str, str, str], list[RuleView]] = {}
        self._selectors: dict[str, list[RuleView]] = {}
        self._guardrails: dict[tuple[str, str], Guardrail | None] = {}
        self._alerts: dict[tuple[str, str], Alert | None] = {}
        self._identities: dict[
            tuple[str, str, tuple[tuple[str, str], ...]], tuple[dict[str, str], str]
        ] = {}
        self._live: dict[tuple[str, str], _Live] = {}
        self._history: list[dict[str, Any]] = []
        self._outbox: list[CloudEvent] = []
        self._source = f"lodestar/{settings.service_name}"

    # --- a batch -------------------------------------------------------------------------

    async def evaluate(self, batch: Sequence[tuple[CloudEvent, Inputs]]) -> None:
        """Evaluate a batch of inbound events in order, then write the changes."""
        await self.prepare(batch)
        for event, payload in batch:
            if isinstance(payload, KpiValueV1):
                await self.kpi_value(event, payload)
            elif isinstance(payload, KrProgressV1):
                await self.kr_progress(event, payload)
            elif isinstance(payload, ObjectiveChangedV1):
                await self.objective_changed(event, payload)
            else:
                await self.kr_graduated(event, payload)
        await self.flush()

    async def prepare(self, batch: Sequence[tuple[CloudEvent, Inputs]]) -> None:
        """Load what `batch` needs in a few queries, whatever its size."""
        await self._load_tenants({event.tenant for event, _ in batch})
        targets: set[tuple[str, str, str]] = set()
        kpis: set[tuple[str, str]] = set()
        for event, payload in batch:
            if isinstance(payload, KpiValueV1):
                targets.add((event.tenant, "kpi", payload.kpi))
                kpis.add((event.tenant, payload.kpi))
            elif isinstance(payload, KrProgressV1):
                targets.add((event.tenant, "key_result", payload.key_result_id))
            elif isinstance(payload, ObjectiveChangedV1):
                targets.add((event.tenant, "objective", payload.objective_id))
            else:
                kpis.add((event.tenant, payload.kpi))
        await self._load_rules(targets)
        await self._load_guardrails(kpis)
        keys: set[tuple[str, str]] = set()
        for event, payload in batch:
            for rule, _kind, _subject, labels in await self._subjects(event.tenant, payload):
                keys.add((event.tenant, self._identity(rule, event.tenant, labels)[1]))
        await self._load_alerts(keys)

    async def flush(self) -> None:
        """Write what evaluation changed: alert rows, history lines, outbox events."""
        changed = self._write_back()
        await self.session.flush()
        if changed:
            await self.session.execute(update(Alert), changed)
        history, self._history = self._history, []
        await repository.insert_history(self.session, history)
        events, self._outbox = self._outbox, []
        if events:
            topics = self.settings.topics
            await enqueue(self.session, topics.name(topics.alerts), *events)

    # --- inputs --------------------------------------------------------------------------

    async def kpi_value(self, event: CloudEvent, value: KpiValueV1) -> None:
        """Every rule on this KPI (and the tag selectors it matches), KpiRed, and
        KpiGuardrailBreached when the KPI is a guardrail."""
        for rule, kind, subject, labels in await self._subjects(event.tenant, value):
            cond = rule.condition

            def observe(alert: Alert | None, cond: Condition = cond) -> Observation:
                samples: list[Sample] = []
                if cond.kind is ConditionKind.CHANGE and cond.window is not None:
                    kept = _samples(alert) if alert is not None else []
                    samples = trim_samples([*kept, (value.last_at, value.value)], cond.window)
                    if alert is not None:
                        alert.samples = [[at.isoformat(), v] for at, v in samples]
                verdict = kpi_verdict(cond, value.value, value.health, samples)
                return Observation(verdict, value.value)

            await self._evaluate(rule, event.tenant, kind, subject, labels, observe)

    async def kr_progress(self, event: CloudEvent, progress: KrProgressV1) -> None:
        await self._status_rules(event.tenant, progress, progress.status, progress.progress)

    async def objective_changed(self, event: CloudEvent, change: ObjectiveChangedV1) -> None:
        await self._status_rules(event.tenant, change, change.status, change.progress)

    async def kr_graduated(self, event: CloudEvent, graduated: KrGraduatedV1) -> None:
        """Record the KPI as a guardrail. A graduation older than the one recorded changes
        nothing; a newer one from another KR replaces it and resolves what the old one held."""
        tenant, kpi = event.tenant, graduated.kpi
        key = (tenant, kpi)
        if key not in self._guardrails:
            await self._load_guardrails({key})
        row = self._guardrails[key]
        # A colleague may add the graduation time to the payload; the event time stands in.
        at = getattr(graduated, "graduated_at", None) or event.time
        if row is not None and at < row.graduated_at:
            return
        previous = row.key_result_id if row is not None else None
        if row is None:
            row = Guardrail(
                tenant=tenant,
                kpi=kpi,
                key_result_id=graduated.key_result_id,
                kind=graduated.kind,
                target=graduated.target,
                periods_met=graduated.periods_met,
                graduated_at=at,
                updated_at=self.now,
            )
            self.session.add(row)
            self._guardrails[key] = row
        row.key_result_id = graduated.key_result_id
        row.kind = graduated.kind
        row.target = graduated.target
        row.bound_low = graduated.bound_low
        row.bound_high = graduated.bound_high
        row.periods_met = graduated.periods_met
        row.graduated_at = at
        row.updated_at = self.now
        if previous is not None and previous != graduated.key_result_id:
            rule = self.builtins[BUILTIN_KPI_GUARDRAIL]
            for alert in await repository.alerts_of_rule(self.session, tenant, rule.id):
                if alert.subject == kpi:
                    self._step(alert, _closing(rule), _CLOSED)

    async def _status_rules(
        self,
        tenant: str,
        payload: KrProgressV1 | ObjectiveChangedV1,
        status: str,
        progress: float,
    ) -> None:
        for rule, kind, subject, labels in await self._subjects(tenant, payload):
            verdict = status_verdict(rule.condition, status, progress)
            obs = Observation(verdict, progress)

            def observe(_alert: Alert | None, obs: Observation = obs) -> Observation:
                return obs

            await self._evaluate(rule, tenant, kind, subject, labels, observe)

    async def _subjects(self, tenant: str, payload: Inputs) -> list[Subject]:
        """The rules an event is evaluated against, each with its subject and labels."""
        if isinstance(payload, KpiValueV1):
            kpi = payload.kpi
            stored = [
                r
                for r in await self._rules_for(tenant, "kpi", kpi)
                if not r.selector_tags or r.selector_tags <= set(payload.tags)
            ]
            switches = self._switches_of(tenant)
            labels = {"kpi": kpi}
            found: list[Subject] = [
                (r, "kpi", kpi, labels)
                for r in stored
                if r.condition.kind is not ConditionKind.STATUS
            ]
            if switches.kpi_red:
                found.append((self.builtins[BUILTIN_KPI_RED], "kpi", kpi, labels))
            if switches.guardrail_breached:
                guardrail = await self._guardrail(tenant, kpi)
                if guardrail is not None:
                    guarded = {"kpi": kpi, "graduated_from": guardrail.key_result_id}
                    found.append((self.builtins[BUILTIN_KPI_GUARDRAIL], "kpi", kpi, guarded))
            return found
        if isinstance(payload, KrProgressV1):
            kr = payload.key_result_id
            rules = list(await self._rules_for(tenant, "key_result", kr))
            if self._switches_of(tenant).kr_off_track:
                rules.append(self.builtins[BUILTIN_KR_OFF_TRACK])
            # The linked KPI is a label, so the default inhibition rule can match on it.
            labels = {"key_result": kr}
            if payload.kpi:
                labels["kpi"] = payload.kpi
            return [(r, "key_result", kr, labels) for r in rules if _on_status(r)]
        if isinstance(payload, ObjectiveChangedV1):
            objective = payload.objective_id
            rules = list(await self._rules_for(tenant, "objective", objective))
            labels = {"objective": objective}
            return [(r, "objective", objective, labels) for r in rules if _on_status(r)]
        return []

    async def tick(self) -> int:
        """Advance every alert the clock can move; returns how many were looked at."""
        await self._ensure_absent_alerts()
        alerts = await repository.alerts_to_tick(self.session)
        stored = await repository.rules_by_id(
            self.session, sorted({a.rule_id for a in alerts} - set(self.builtins))
        )
        for alert in alerts:
            if alert.rule_id in self.builtins:
                rule: RuleView | None = self.builtins[alert.rule_id]
            else:
                row = stored.get(alert.rule_id)
                rule = rule_view(row) if row is not None and row.enabled else None
            if rule is None:
                continue  # closed when its rule was deleted or disabled
            await self._load_tenants({alert.tenant})
            obs = Observation.tick()
            cond = rule.condition
            if cond.kind is ConditionKind.NO_DATA and cond.no_data_for is not None:
                since = alert.last_seen_at or rule.created_at or self.now
                verdict = absent_verdict(since, cond.no_data_for, self.now)
                if verdict is not None:
                    obs = Observation(verdict, None, fresh=False)
            self._step(alert, rule, obs)
        await self.flush()
        return len(alerts)

    async def close_rule_alerts(self, tenant: str, rule: RuleView) -> None:
        """The rule is gone, disabled or changed its identity: resolve what it holds open."""
        await self._load_tenants({tenant})
        for alert in await repository.alerts_of_rule(self.session, tenant, rule.id):
            self._step(alert, _closing(rule), _CLOSED)
        await self.flush()

    # --- the core ------------------------------------------------------------------------

    async def _ensure_absent_alerts(self) -> None:
        """A `no_data` rule on one KPI has an alert from its creation, so silence from the
        start is noticed too."""
        for row in await repository.absent_rules_on_kpis(self.session):
            rule = rule_view(row)
            labels, fp = self._identity(rule, row.tenant, {"kpi": row.target})
            if await repository.get_alert(self.session, row.tenant, fp) is None:
                self.session.add(self._new_alert(rule, row.tenant, fp, labels, "kpi", row.target))
        await self.session.flush()

    def _identity(
        self, rule: RuleView, tenant: str, subject: dict[str, str]
    ) -> tuple[dict[str, str], str]:
        """An alert's labels and fingerprint (memoised: hashing is per event otherwise)."""
        key = (rule.id, tenant, tuple(subject.items()))
        found = self._identities.get(key)
        if found is None:
            labels = {
                **rule.labels,
                "alertname": rule.name,
                "tenant": tenant,
                "severity": rule.severity,
                **subject,
            }
            found = self._identities[key] = (labels, fingerprint(labels))
        return found

    def _new_alert(
        self,
        rule: RuleView,
        tenant: str,
        fp: str,
        labels: dict[str, str],
        kind: str,
        subject: str,
    ) -> Alert:
        return Alert(
            tenant=tenant,
            fingerprint=fp,
            rule_id=rule.id,
            subject_kind=kind,
            subject=subject,
            state=AlertState.INACTIVE.value,
            labels=dict(labels),
            annotations=dict(rule.annotations),
            last_seen_at=self.now if rule.condition.kind is ConditionKind.NO_DATA else None,
            updated_at=self.now,
        )

    async def _evaluate(
        self,
        rule: RuleView,
        tenant: str,
        kind: str,
        subject: str,
        subject_labels: dict[str, str],
        observe: Callable[[Alert | None], Observation],
    ) -> None:
        labels, fp = self._identity(rule, tenant, subject_labels)
        key = (tenant, fp)
        if key not in self._alerts:
            await self._load_alerts({key})
        alert = self._alerts[key]
        if alert is None:
            if _keeps_memory(rule):
                alert = self._new_alert(rule, tenant, fp, labels, kind, subject)
                obs = observe(alert)
            else:
                obs = observe(None)
                if not _worth_tracking(rule, obs, self.now):
                    return  # each KPI and each rule would otherwise leave an inactive row
                alert = self._new_alert(rule, tenant, fp, labels, kind, subject)
            self.session.add(alert)
            self._alerts[key] = alert
        else:
            obs = observe(alert)
        self._step(alert, rule, obs)

    def _live_of(self, alert: Alert) -> _Live:
        key = (alert.tenant, alert.fingerprint)
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = _Live(
                alert=alert,
                status=_status_of(alert),
                labels=dict(alert.labels),
                annotations=dict(alert.annotations),
                silenced_by=list(alert.silenced_by),
                inhibited=alert.inhibited,
                acked=alert.acked_at is not None,
            )
        return live

    def _step(self, alert: Alert, rule: RuleView, obs: Observation) -> None:
        """One observation through the state machine, in memory; `flush()` writes the row."""
        live = self._live_of(alert)
        tenant = alert.tenant
        labels = live.labels
        silences = silenced_by(self._silences.get(tenant, ()), labels, self.now)
        firing = self._firing.setdefault(tenant, {})
        is_inhibited = inhibited(labels, firing.values())
        marks = Marks(silenced=bool(silences), inhibited=is_inhibited, acknowledged=live.acked)
        new, events = step(live.status, obs, rule.policy, self.now, marks)
        live.status = new
        live.silenced_by = silences
        live.inhibited = is_inhibited
        if new.value != live.value or rule.annotations is not live.template:
            live.annotations = expand_all(rule.annotations, labels, new.value)
            live.value, live.template = new.value, rule.annotations
        if new.state not in ACTIVE_STATES and live.acked:
            live.acked = False  # an ack ends with its alert
            live.clear_ack = True
        live.dirty = True
        if new.state is AlertState.FIRING:
            firing[alert.fingerprint] = labels
        else:
            firing.pop(alert.fingerprint, None)
        for event in events:
            if isinstance(event, Transitioned):
                self._history.append(
                    {
                        "tenant": tenant,
                        "fingerprint": alert.fingerprint,
                        "kind": "transition",
                        "from_state": event.from_state.value,
                        "to_state": event.to_state.value,
                        "value": new.value,
                        "detail": _why(marks) if event.to_state is AlertState.FIRING else None,
                        "at": event.at,
                    }
                )
            elif isinstance(event, Notify):
                self._notify(live, rule, event)

    def _write_back(self) -> list[dict[str, Any]]:
        """Copy each changed alert's in-memory state to its row, once per flush: a new row
        through the ORM (its INSERT), a stored one as the parameters of one bulk UPDATE by
        primary key (returned), its attributes set as already saved. The ORM's unit of work
        cost ~300 µs per changed row, more than evaluating it."""
        changed: list[dict[str, Any]] = []
        for live in self._live.values():
            if not live.dirty:
                continue
            alert, new = live.alert, live.status
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
                "updated_at": self.now,
            }
            if live.clear_ack:
                changes.update(acked_by=None, acked_at=None, ack_note=None)
                live.clear_ack = False
            live.dirty = False
            if inspect(alert).persistent:
                for name, value in changes.items():
                    set_committed_value(alert, name, value)
                key = {"tenant": alert.tenant, "fingerprint": alert.fingerprint}
                changed.append({**key, **changes})
            else:
                for name, value in changes.items():
                    if getattr(alert, name) != value:
                        setattr(alert, name, value)
        return changed

    def _notify(self, live: _Live, rule: RuleView, notify: Notify) -> None:
        settings = self.settings
        alert, status = live.alert, live.status
        assert status.started_at is not None
        generator_url = generator_url_for(settings, alert.subject_kind, alert.subject)
        ends_at = status.ended_at if notify.status == "resolved" else None
        self._outbox.append(
            alert_event(
                source=self._source,
                tenant=alert.tenant,
                fingerprint=alert.fingerprint,
                data=AlertV1.model_construct(
                    status=notify.status,
                    labels=live.labels,
                    annotations=live.annotations,
                    starts_at=status.started_at,
                    ends_at=ends_at,
                    generator_url=generator_url,
                    fingerprint=alert.fingerprint,
                    value=status.value,
                    subject=alert.subject,
                ),
                at=notify.at,
            )
        )
        self._history.append(
            {
                "tenant": alert.tenant,
                "fingerprint": alert.fingerprint,
                "kind": "notified",
                "from_state": None,
                "to_state": notify.status,
                "value": status.value,
                "detail": "repeat" if notify.repeat else None,
                "at": notify.at,
            }
        )
        if rule.webhook_url and rule.webhook_secret:
            body = webhook_body(
                receiver=rule.name,
                status=notify.status,
                labels=live.labels,
                annotations=live.annotations,
                starts_at=status.started_at,
                ends_at=ends_at,
                generator_url=generator_url,
                fingerprint=alert.fingerprint,
                external_url=settings.public_url,
            )
            self.session.add(
                WebhookDelivery(
                    id=str(uuid.uuid4()),
                    tenant=alert.tenant,
                    rule_id=rule.id,
                    fingerprint=alert.fingerprint,
                    alert_status=notify.status,
                    url=rule.webhook_url,
                    secret=rule.webhook_secret,
                    body=json.dumps(body, separators=(",", ":")),
                    status="pending",
                    next_attempt_at=self.now,
                    created_at=self.now,
                    updated_at=self.now,
                )
            )

    # --- loading, a batch at a time ------------------------------------------------------

    async def _load_tenants(self, tenants: set[str]) -> None:
        """Switches, active silences and firing alerts of the tenants not loaded yet."""
        missing = tenants - self._switches.keys()
        if not missing:
            return
        rows = await repository.settings_of(self.session, missing)
        for tenant in missing:
            row = rows.get(tenant)
            self._switches[tenant] = (
                Switches()
                if row is None
                else Switches(row.kpi_red, row.kr_off_track, row.guardrail_breached)
            )
            self._silences[tenant] = []
        for row_s in await repository.active_silences_of(self.session, missing, self.now):
            self._silences[row_s.tenant].append(
                SilenceSpec(
                    id=row_s.id,
                    matchers=tuple(
                        Matcher(m["name"], MatchOp(m["op"]), m["value"]) for m in row_s.matchers
                    ),
                    starts_at=row_s.starts_at,
                    ends_at=row_s.ends_at,
                )
            )
        self._firing.update(await repository.firing_labels_of(self.session, missing))

    def _switches_of(self, tenant: str) -> Switches:
        return self._switches.get(tenant, Switches())

    async def _load_rules(self, targets: set[tuple[str, str, str]]) -> None:
        missing = {t for t in targets if t not in self._rules}
        if not missing:
            return
        selector_tenants = {t for t, kind, _ in missing if kind == "kpi"} - self._selectors.keys()
        for key in missing:
            self._rules[key] = []
        for tenant in selector_tenants:
            self._selectors[tenant] = []
        for row in await repository.rules_for_targets(self.session, missing):
            if row.target_kind == "selector":
                if row.tenant in selector_tenants:
                    self._selectors[row.tenant].append(rule_view(row))
            else:
                self._rules[(row.tenant, row.target_kind, row.target)].append(rule_view(row))

    async def _rules_for(self, tenant: str, kind: str, target: str) -> list[RuleView]:
        key = (tenant, kind, target)
        if key not in self._rules:
            await self._load_rules({key})
        rules = self._rules[key]
        if kind != "kpi":
            return rules
        # Stored order: by rule id, whether the rule names the KPI or selects it by tag.
        return sorted([*rules, *self._selectors.get(tenant, [])], key=lambda r: r.id)

    async def _load_guardrails(self, keys: set[tuple[str, str]]) -> None:
        missing = {k for k in keys if k not in self._guardrails}
        if missing:
            found = await repository.guardrails_of(self.session, missing)
            for key in missing:
                self._guardrails[key] = found.get(key)

    async def _guardrail(self, tenant: str, kpi: str) -> Guardrail | None:
        key = (tenant, kpi)
        if key not in self._guardrails:
            await self._load_guardrails({key})
        return self._guardrails[key]

    async def _load_alerts(self, keys: set[tuple[str, str]]) -> None:
        missing = {k for k in keys if k not in self._alerts}
        if missing:
            found = await repository.alerts_by_fingerprint(self.session, missing)
            for key in missing:
                self._alerts[key] = found.get(key)


_CLOSED = Observation(Verdict.CLEAR, None, fresh=False)


def _closing(rule: RuleView) -> RuleView:
    """The rule with a policy that resolves at once (no keep_firing_for)."""
    return replace(rule, policy=Policy(repeat_interval=rule.policy.repeat_interval))


def _on_status(rule: RuleView) -> bool:
    return rule.condition.kind in (ConditionKind.STATUS, ConditionKind.THRESHOLD)


def _keeps_memory(rule: RuleView) -> bool:
    """A rule that remembers between observations (samples of a change, the clock of no
    data) needs its row from the first observation on."""
    return (
        rule.condition.kind in (ConditionKind.CHANGE, ConditionKind.NO_DATA)
        or rule.policy.no_data_after is not None
    )


def _worth_tracking(rule: RuleView, obs: Observation, now: datetime) -> bool:
    """A first observation that leaves an alert inactive needs no row, unless the rule keeps
    memory between observations."""
    if _keeps_memory(rule):
        return True
    if obs.verdict in (Verdict.CLEAR, Verdict.BAND):
        return False  # an inactive alert stays inactive and says nothing
    new, events = step(AlertStatus(), obs, rule.policy, now)
    return new.state is not AlertState.INACTIVE or bool(events)


def _why(marks: Marks) -> str | None:
    muted = [
        name for name, on in (("silenced", marks.silenced), ("inhibited", marks.inhibited)) if on
    ]
    return f"not published: {', '.join(muted)}" if muted else None


def generator_url_for(settings: AlertsSettings, kind: str, subject: str) -> str:
    """The subject in the REST API that owns it: a KPI in metrics, a KR or objective in goals."""
    if kind == "kpi":
        return f"{settings.metrics_url}/v1/kpis/{subject}"
    if kind == "key_result":
        return f"{settings.goals_url}/v1/key-results/{subject}"
    return f"{settings.goals_url}/v1/objectives/{subject}"
