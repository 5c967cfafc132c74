"""Evaluation: KPI values, KR progress, objective changes and the clock, stepped through the
pure state machine; transitions go to history, notifications to the outbox (the `alerts`
topic) and to the webhook deliveries table, all in the caller's transaction. Never commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

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
from services.alerts.tables import Alert, AlertHistory, AlertRule, WebhookDelivery
from shared.events import (
    ALERT_FIRING_V1,
    ALERT_RESOLVED_V1,
    AlertV1,
    CloudEvent,
    KpiValueV1,
    KrProgressV1,
    ObjectiveChangedV1,
    new_event,
)
from shared.outbox import enqueue

BUILTIN_KPI_RED = "builtin:kpi-red"
BUILTIN_KR_OFF_TRACK = "builtin:kr-off-track"


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
BUILTINS = {KPI_RED.id: KPI_RED, KR_OFF_TRACK.id: KR_OFF_TRACK}


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


def _samples(alert: Alert) -> list[Sample]:
    return [(datetime.fromisoformat(at), float(v)) for at, v in alert.samples]


class Evaluator:
    """One unit of evaluation work inside one transaction (a consumer batch, a tick, a call).

    It caches per tenant what every alert's marks depend on (active silences, firing alerts,
    settings) and keeps the firing set current as alerts change, so inhibition inside one
    batch sees the alerts fired earlier in it.
    """

    def __init__(self, session: AsyncSession, settings: AlertsSettings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self._silences: dict[str, list[SilenceSpec]] = {}
        self._firing: dict[str, dict[str, dict[str, str]]] = {}
        self._builtins: dict[str, tuple[bool, bool]] = {}

    # --- inputs --------------------------------------------------------------------------

    async def kpi_value(self, event: CloudEvent, value: KpiValueV1) -> None:
        """Every rule on this KPI (and the tag selectors it matches), plus KpiRed."""
        tenant = event.tenant
        rules = [
            rule_view(r)
            for r in await repository.rules_for_kpi(self.session, tenant, value.kpi)
            if r.target_kind == "kpi" or set(r.selector_tags) <= set(value.tags)
        ]
        kpi_red, _ = await self._builtins_on(tenant)
        if kpi_red:
            rules.append(KPI_RED)
        labels = {"kpi": value.kpi}
        for rule in rules:
            cond = rule.condition
            if cond.kind is ConditionKind.STATUS:
                continue

            def observe(alert: Alert, cond: Condition = cond) -> Observation:
                samples: list[Sample] = []
                if cond.kind is ConditionKind.CHANGE and cond.window is not None:
                    samples = trim_samples(
                        [*_samples(alert), (value.last_at, value.value)], cond.window
                    )
                    alert.samples = [[at.isoformat(), v] for at, v in samples]
                verdict = kpi_verdict(cond, value.value, value.health, samples)
                return Observation(verdict, value.value)

            await self._evaluate(rule, tenant, "kpi", value.kpi, labels, observe)

    async def kr_progress(self, event: CloudEvent, progress: KrProgressV1) -> None:
        tenant = event.tenant
        rules = [
            rule_view(r)
            for r in await repository.rules_for(
                self.session, tenant, "key_result", progress.key_result_id
            )
        ]
        _, kr_off_track = await self._builtins_on(tenant)
        if kr_off_track:
            rules.append(KR_OFF_TRACK)
        # The linked KPI is a label, so the default inhibition rule can match on it.
        labels = {"key_result": progress.key_result_id}
        if progress.kpi:
            labels["kpi"] = progress.kpi
        await self._status_rules(
            tenant,
            "key_result",
            progress.key_result_id,
            labels,
            rules,
            progress.status,
            progress.progress,
        )

    async def objective_changed(self, event: CloudEvent, change: ObjectiveChangedV1) -> None:
        tenant = event.tenant
        rules = [
            rule_view(r)
            for r in await repository.rules_for(
                self.session, tenant, "objective", change.objective_id
            )
        ]
        labels = {"objective": change.objective_id}
        await self._status_rules(
            tenant, "objective", change.objective_id, labels, rules, change.status, change.progress
        )

    async def _status_rules(
        self,
        tenant: str,
        kind: str,
        subject: str,
        labels: dict[str, str],
        rules: list[RuleView],
        status: str,
        progress: float,
    ) -> None:
        for rule in rules:
            if rule.condition.kind not in (ConditionKind.STATUS, ConditionKind.THRESHOLD):
                continue
            verdict = status_verdict(rule.condition, status, progress)
            obs = Observation(verdict, progress)

            def observe(_alert: Alert, obs: Observation = obs) -> Observation:
                return obs

            await self._evaluate(rule, tenant, kind, subject, labels, observe)

    async def tick(self) -> int:
        """Advance every alert the clock can move; returns how many were looked at."""
        await self._ensure_absent_alerts()
        alerts = await repository.alerts_to_tick(self.session)
        stored = await repository.rules_by_id(
            self.session, sorted({a.rule_id for a in alerts} - set(BUILTINS))
        )
        for alert in alerts:
            if alert.rule_id in BUILTINS:
                rule: RuleView | None = BUILTINS[alert.rule_id]
            else:
                row = stored.get(alert.rule_id)
                rule = rule_view(row) if row is not None and row.enabled else None
            if rule is None:
                continue  # closed when its rule was deleted or disabled
            obs = Observation.tick()
            cond = rule.condition
            if cond.kind is ConditionKind.NO_DATA and cond.no_data_for is not None:
                since = alert.last_seen_at or rule.created_at or self.now
                verdict = absent_verdict(since, cond.no_data_for, self.now)
                if verdict is not None:
                    obs = Observation(verdict, None, fresh=False)
            await self._step(alert, rule, obs)
        return len(alerts)

    async def close_rule_alerts(self, tenant: str, rule: RuleView) -> None:
        """The rule is gone, disabled or changed its identity: resolve what it holds open."""
        closing = Policy(repeat_interval=rule.policy.repeat_interval)
        closed = replace(rule, policy=closing)
        for alert in await repository.alerts_of_rule(self.session, tenant, rule.id):
            await self._step(alert, closed, Observation(Verdict.CLEAR, None, fresh=False))

    # --- the core ------------------------------------------------------------------------

    async def _ensure_absent_alerts(self) -> None:
        """A `no_data` rule on one KPI has an alert from its creation, so silence from the
        start is noticed too."""
        for row in await repository.absent_rules_on_kpis(self.session):
            rule = rule_view(row)
            labels = self._labels(rule, row.tenant, {"kpi": row.target})
            fp = fingerprint(labels)
            if await repository.get_alert(self.session, row.tenant, fp) is None:
                self.session.add(self._new_alert(rule, row.tenant, fp, labels, "kpi", row.target))
        await self.session.flush()

    def _labels(self, rule: RuleView, tenant: str, subject: dict[str, str]) -> dict[str, str]:
        return {
            **rule.labels,
            "alertname": rule.name,
            "tenant": tenant,
            "severity": rule.severity,
            **subject,
        }

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
            labels=labels,
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
        observe: Callable[[Alert], Observation],
    ) -> None:
        labels = self._labels(rule, tenant, subject_labels)
        fp = fingerprint(labels)
        alert = await repository.get_alert(self.session, tenant, fp, for_update=True)
        if alert is None:
            alert = self._new_alert(rule, tenant, fp, labels, kind, subject)
            obs = observe(alert)
            if not _worth_tracking(rule, obs, self.now):
                return  # each KPI and each rule would otherwise leave an inactive row
            self.session.add(alert)
            await self._step(alert, rule, obs)
            return
        await self._step(alert, rule, observe(alert))

    async def _step(self, alert: Alert, rule: RuleView, obs: Observation) -> None:
        tenant = alert.tenant
        silences = silenced_by(await self._silences_of(tenant), alert.labels, self.now)
        firing = await self._firing_of(tenant)
        is_inhibited = inhibited(alert.labels, firing.values())
        marks = Marks(
            silenced=bool(silences),
            inhibited=is_inhibited,
            acknowledged=alert.acked_at is not None,
        )
        new, events = step(_status_of(alert), obs, rule.policy, self.now, marks)
        alert.state = new.state.value
        alert.active_since = new.active_since
        alert.started_at = new.started_at
        alert.ended_at = new.ended_at
        alert.clear_since = new.clear_since
        alert.value = new.value
        alert.last_seen_at = new.last_seen_at
        alert.notified = new.notified
        alert.last_notified_at = new.last_notified_at
        alert.silenced_by = silences
        alert.inhibited = is_inhibited
        alert.annotations = expand_all(rule.annotations, alert.labels, new.value)
        alert.updated_at = self.now
        if new.state not in ACTIVE_STATES:
            alert.acked_by = alert.acked_at = alert.ack_note = None  # an ack ends with its alert
        if new.state is AlertState.FIRING:
            firing[alert.fingerprint] = dict(alert.labels)
        else:
            firing.pop(alert.fingerprint, None)
        for event in events:
            if isinstance(event, Transitioned):
                self.session.add(
                    AlertHistory(
                        tenant=tenant,
                        fingerprint=alert.fingerprint,
                        kind="transition",
                        from_state=event.from_state.value,
                        to_state=event.to_state.value,
                        value=new.value,
                        detail=_why(marks) if event.to_state is AlertState.FIRING else None,
                        at=event.at,
                    )
                )
            elif isinstance(event, Notify):
                await self._notify(alert, rule, event)
        await self.session.flush()

    async def _notify(self, alert: Alert, rule: RuleView, notify: Notify) -> None:
        settings = self.settings
        assert alert.started_at is not None
        generator_url = generator_url_for(settings, alert.subject_kind, alert.subject)
        data = AlertV1(
            status=notify.status,
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.started_at,
            ends_at=alert.ended_at if notify.status == "resolved" else None,
            generator_url=generator_url,
            fingerprint=alert.fingerprint,
            value=alert.value,
            subject=alert.subject,
        )
        event = new_event(
            type=ALERT_FIRING_V1 if notify.status == "firing" else ALERT_RESOLVED_V1,
            source=f"lodestar/{settings.service_name}",
            tenant=alert.tenant,
            subject=alert.fingerprint,
            data=data,
            time=notify.at,
        )
        await enqueue(self.session, settings.topics.name(settings.topics.alerts), event)
        self.session.add(
            AlertHistory(
                tenant=alert.tenant,
                fingerprint=alert.fingerprint,
                kind="notified",
                to_state=notify.status,
                value=alert.value,
                detail="repeat" if notify.repeat else None,
                at=notify.at,
            )
        )
        if rule.webhook_url and rule.webhook_secret:
            body = webhook_body(
                receiver=rule.name,
                status=notify.status,
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.started_at,
                ends_at=data.ends_at,
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

    # --- per-tenant caches ---------------------------------------------------------------

    async def _silences_of(self, tenant: str) -> list[SilenceSpec]:
        if tenant not in self._silences:
            rows = await repository.active_silences(self.session, tenant, self.now)
            self._silences[tenant] = [
                SilenceSpec(
                    id=row.id,
                    matchers=tuple(
                        Matcher(m["name"], MatchOp(m["op"]), m["value"]) for m in row.matchers
                    ),
                    starts_at=row.starts_at,
                    ends_at=row.ends_at,
                )
                for row in rows
            ]
        return self._silences[tenant]

    async def _firing_of(self, tenant: str) -> dict[str, dict[str, str]]:
        if tenant not in self._firing:
            self._firing[tenant] = await repository.firing_labels(self.session, tenant)
        return self._firing[tenant]

    async def _builtins_on(self, tenant: str) -> tuple[bool, bool]:
        if tenant not in self._builtins:
            row = await repository.get_settings(self.session, tenant)
            self._builtins[tenant] = (
                (True, True) if row is None else (row.kpi_red, row.kr_off_track)
            )
        return self._builtins[tenant]


def _worth_tracking(rule: RuleView, obs: Observation, now: datetime) -> bool:
    """A first observation that leaves an alert inactive needs no row, unless the rule keeps
    memory between observations (samples of a change, the clock of no data)."""
    if rule.condition.kind in (ConditionKind.CHANGE, ConditionKind.NO_DATA):
        return True
    if rule.policy.no_data_after is not None:
        return True
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
