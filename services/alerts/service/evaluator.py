"""Evaluation: KPI values, KR progress, objective changes, graduations and the clock, stepped
through the pure state machine; transitions go to history, notifications to the outbox (the
`alerts` topic) and to the webhook deliveries table, all in the caller's transaction. Never
commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.alerts.domain.conditions import (
    Condition,
    ConditionKind,
    Sample,
    absent_verdict,
    kpi_verdict,
    status_verdict,
    trim_samples,
)
from services.alerts.domain.evaluation import (
    ACTIVE_STATES,
    AlertState,
    Marks,
    Notify,
    Observation,
    Transitioned,
    next_tick,
    step,
)
from services.alerts.domain.matching import inhibited, next_silence_change, silenced_by
from services.alerts.domain.present import about_the_present
from services.alerts.domain.rules import (
    BUILTIN_KPI_GUARDRAIL,
    CLOSED,
    RuleView,
    builtin_rules,
    closing,
    keeps_memory,
    worth_tracking,
)
from services.alerts.domain.subjects import (
    Subject,
    key_result_subjects,
    kpi_subjects,
    objective_subjects,
)
from services.alerts.domain.templates import expand_all
from services.alerts.repository import alerts as alerts_repo
from services.alerts.repository import deliveries as deliveries_repo
from services.alerts.repository import guardrails as guardrails_repo
from services.alerts.repository import kpi_periods as kpi_periods_repo
from services.alerts.repository import rules as rules_repo
from services.alerts.service.definitions import DefinitionCache
from services.alerts.service.loader import BatchLoader
from services.alerts.service.mapping import (
    LiveAlert,
    live_of,
    new_alert,
    new_row,
    rule_view,
    samples_of,
    store_samples,
)
from services.alerts.service.notifier import Notifier
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Guardrail
from shared.db import AsyncSession
from shared.events import (
    CloudEvent,
    KpiGuardrailRemovedV1,
    KpiValueV1,
    KrGraduatedV1,
    KrProgressV1,
    ObjectiveChangedV1,
)
from shared.outbox import enqueue

Inputs = KpiValueV1 | KrProgressV1 | ObjectiveChangedV1 | KrGraduatedV1 | KpiGuardrailRemovedV1


class Evaluator:
    """One unit of evaluation work inside one transaction (a consumer batch, a tick, a call).

    Set-based: `prepare(batch)` loads what the batch needs with a few queries (`BatchLoader`),
    each event then steps its alerts in memory through the pure state machine, event after
    event in order, and `flush()` writes the changes in bulk: the changed alert rows, the
    history lines, the outbox events, the webhook deliveries. The firing set is kept current
    as alerts change, so inhibition inside one batch sees the alerts fired earlier in it.
    Nothing reaches the session's database before `flush()` but new rows a query flushes.

    Evaluation happens at a time read from `clock` after what it read (`_read_clock`): a
    change it saw was committed by a transaction whose time was read before that commit, so
    no event it writes is older than what caused it. A time read before its reads (before
    waiting for the write lock, or for a row another evaluation holds) could be: a key
    result's alert freed by its KPI's alert resolving would fire before the resolution.
    """

    def __init__(
        self,
        session: AsyncSession,
        settings: AlertsSettings,
        clock: Callable[[], datetime],
        definitions: DefinitionCache | None = None,
    ) -> None:
        """`definitions`: the loop's cache kept between batches; without one (an API call)
        the tenant's definitions are loaded afresh."""
        self.session = session
        self.settings = settings
        self.clock = clock
        now = self.now = clock()
        self.builtins = builtin_rules(settings)
        self.loaded = BatchLoader(session, now, definitions or DefinitionCache())
        self.notifier = Notifier(settings, now)
        # (tenant, KPI) whose alert started or stopped firing: its inhibition targets are due,
        # but those stepped since (they saw its firing alerts as they are now): their
        # fingerprints, by KPI.
        self._inhibitors_moved: dict[tuple[str, str], set[str]] = {}

    # --- a batch -------------------------------------------------------------------------

    async def prepare(self, batch: Sequence[tuple[CloudEvent, Inputs]]) -> None:
        """Load what `batch` needs in a few queries, whatever its size."""
        loaded = self.loaded
        await loaded.load_tenants({event.tenant for event, _ in batch})
        kpis: set[tuple[str, str]] = set()
        valued: set[tuple[str, str]] = set()
        linked: set[tuple[str, str]] = set()  # the KPIs of key results: their inhibitors
        for event, payload in batch:
            if isinstance(payload, KpiValueV1):
                kpis.add((event.tenant, payload.kpi))
                valued.add((event.tenant, payload.kpi))
            elif isinstance(payload, KrProgressV1):
                if payload.kpi:
                    linked.add((event.tenant, payload.kpi))
            elif not isinstance(payload, ObjectiveChangedV1):  # a graduation or a removal
                kpis.add((event.tenant, payload.kpi))
        await loaded.load_guardrails(kpis)
        await loaded.load_firing(kpis | linked)
        await loaded.load_periods(valued)
        keys: set[tuple[str, str]] = set()
        for event, payload in batch:
            for rule, _kind, _subject, labels in await self._subjects(event.tenant, payload):
                keys.add((event.tenant, self.loaded.identity(rule, event.tenant, labels)[1]))
        await loaded.load_alerts(keys)
        self._read_clock()

    def _read_clock(self) -> None:
        """The time of the evaluation, read again once what it judges is loaded (and its
        alerts locked); never earlier than the one it started with."""
        self.now = max(self.now, self.clock())
        self.loaded.now = self.notifier.now = self.now

    async def flush(self) -> None:
        """Write what evaluation changed: alert rows, history lines, outbox events."""
        history, events, deliveries = self.notifier.take()
        deliveries_repo.add_all(self.session, deliveries)
        inserts, updates = self.loaded.changed_rows(self.now)
        await alerts_repo.insert_rows(self.session, inserts)
        await alerts_repo.update_rows(self.session, updates)
        # After the rows: an alert stepped before its KPI's alert moved is looked at again. One
        # stepped after it would only be stepped again by the tick, to the same state (its own
        # timers are in its `due_at`); so it is left, when it is the KPI's only one.
        fresh = {
            key: min(fps) if len(fps) == 1 else "" for key, fps in self._inhibitors_moved.items()
        }
        await alerts_repo.mark_due(self.session, fresh, self.now)
        self._inhibitors_moved.clear()
        await alerts_repo.insert_history(self.session, history)
        moved = [(t, k, start, end) for (t, k), (start, end) in self.loaded.moved.items()]
        await kpi_periods_repo.write(self.session, moved, self.now)
        self.loaded.moved.clear()
        if events:
            topics = self.settings.topics
            await enqueue(self.session, topics.name(topics.alerts), *events)

    # --- inputs --------------------------------------------------------------------------

    async def kpi_value(self, event: CloudEvent, value: KpiValueV1) -> None:
        """Every rule on this KPI (and the tag selectors it matches), KpiRed, and
        KpiGuardrailBreached when the KPI is a guardrail; only for a value about the present
        (`about_the_present`): a value of an older period is history, and moves no alert."""
        if not await self._is_present(event.tenant, value):
            return
        for rule, kind, subject, labels in await self._subjects(event.tenant, value):
            cond = rule.condition

            def observe(alert: LiveAlert | None, cond: Condition = cond) -> Observation:
                samples: list[Sample] = []
                if cond.kind is ConditionKind.CHANGE and cond.window is not None:
                    kept = samples_of(alert) if alert is not None else []
                    samples = trim_samples([*kept, (value.last_at, value.value)], cond.window)
                    if alert is not None:
                        store_samples(alert, samples)
                verdict = kpi_verdict(cond, value.value, value.health, samples)
                return Observation(verdict, value.value)

            await self._evaluate(rule, event.tenant, kind, subject, labels, observe)

    async def _is_present(self, tenant: str, value: KpiValueV1) -> bool:
        """Judge the value against the KPI's newest period, then record its period if newer."""
        held = await self.loaded.newest_period(tenant, value.kpi)
        newest = held[0] if held is not None else None
        present = about_the_present(value.period_start, value.period_end, newest, self.now)
        if held is None or value.period_start > held[0]:
            self.loaded.move_period(tenant, value.kpi, (value.period_start, value.period_end))
        return present

    async def kr_progress(self, event: CloudEvent, progress: KrProgressV1) -> None:
        await self._status_rules(event.tenant, progress, progress.status, progress.progress)

    async def objective_changed(self, event: CloudEvent, change: ObjectiveChangedV1) -> None:
        await self._status_rules(event.tenant, change, change.status, change.progress)

    async def kr_graduated(self, event: CloudEvent, graduated: KrGraduatedV1) -> None:
        """Record the KPI as a guardrail. A graduation older than the one recorded changes
        nothing; a newer one from another KR replaces it and resolves what the old one held."""
        tenant, kpi = event.tenant, graduated.kpi
        row = await self.loaded.guardrail(tenant, kpi)
        # A colleague may add the graduation time to the payload; the event time stands in.
        at = getattr(graduated, "graduated_at", None) or event.time
        if row is not None and at < row.graduated_at:
            return
        if row is not None and row.removed_at is not None:
            if at <= row.removed_at:
                return  # the guardrail this made was removed since: it stays removed
            row.removed_at = None
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
            guardrails_repo.add(self.session, row)
            self.loaded.guardrails[(tenant, kpi)] = row
        row.key_result_id = graduated.key_result_id
        row.kind = graduated.kind
        row.target = graduated.target
        row.bound_low = graduated.bound_low
        row.bound_high = graduated.bound_high
        row.periods_met = graduated.periods_met
        row.graduated_at = at
        row.updated_at = self.now
        if previous is not None and previous != graduated.key_result_id:
            await self._close_guardrail_alerts(tenant, kpi)

    async def guardrail_removed(self, event: CloudEvent, removed: KpiGuardrailRemovedV1) -> None:
        """The KPI is no guardrail any more (metrics removed it): keep its row as a tombstone
        and resolve its KpiGuardrailBreached, as a rule that is gone resolves its alerts. A
        removal older than the graduation recorded (a later one replaced it) changes nothing."""
        row = await self.loaded.guardrail(event.tenant, removed.kpi)
        if row is None or row.removed_at is not None or removed.removed_at < row.graduated_at:
            return
        row.removed_at = removed.removed_at
        row.updated_at = self.now
        await self._close_guardrail_alerts(event.tenant, removed.kpi)

    async def _close_guardrail_alerts(self, tenant: str, kpi: str) -> None:
        """Resolve the KPI's active KpiGuardrailBreached alerts (the state machine's ordinary
        resolution: history, the `alerts` topic, webhooks). An alert fired earlier in this
        batch is active in memory only, until `flush()`: it is closed too."""
        rule = self.builtins[BUILTIN_KPI_GUARDRAIL]
        await self.loaded.load_firing({(tenant, kpi)})
        for row in await alerts_repo.rows_of_rule(self.session, tenant, rule.id):
            self.loaded.hold(live_of(row))
        for live in list(self.loaded.alerts.values()):
            if live is not None and (live.tenant, live.rule_id, live.subject) == (
                tenant,
                rule.id,
                kpi,
            ):
                self._step(live, closing(rule), CLOSED)

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

            def observe(_alert: LiveAlert | None, obs: Observation = obs) -> Observation:
                return obs

            await self._evaluate(rule, tenant, kind, subject, labels, observe)

    async def _subjects(self, tenant: str, payload: Inputs) -> list[Subject]:
        """The rules an event is evaluated against, each with its subject and labels."""
        loaded = self.loaded
        if isinstance(payload, KpiValueV1):
            kpi = payload.kpi
            switches = loaded.switches_of(tenant)
            guardrail = await loaded.guardrail(tenant, kpi) if switches.guardrail_breached else None
            watched = guardrail is not None and guardrail.removed_at is None
            return kpi_subjects(
                await loaded.rules_for(tenant, "kpi", kpi),
                kpi,
                payload.tags,
                switches,
                self.builtins,
                guardrail.key_result_id if watched and guardrail is not None else None,
            )
        if isinstance(payload, KrProgressV1):
            kr = payload.key_result_id
            return key_result_subjects(
                await loaded.rules_for(tenant, "key_result", kr),
                kr,
                payload.kpi,
                loaded.switches_of(tenant),
                self.builtins,
            )
        if isinstance(payload, ObjectiveChangedV1):
            objective = payload.objective_id
            return objective_subjects(
                await loaded.rules_for(tenant, "objective", objective), objective
            )
        return []

    # --- the clock and closing -----------------------------------------------------------

    async def tick(self, changed: set[str] | None = None) -> int:
        """Advance the alerts the clock can move now (`due_at`), and every one it could move
        of the tenants whose definitions `changed` (None: of all); returns how many."""
        await self._ensure_absent_alerts()
        rows = list(await alerts_repo.rows_due(self.session, self.now))
        if changed is None or changed:
            rows += await alerts_repo.rows_to_tick(self.session, changed)
        held = {(r["tenant"], r["fingerprint"]): self.loaded.hold(live_of(r)) for r in rows}
        alerts = [held[key] for key in sorted(held)]
        await self._load_firing(alerts)
        await self.loaded.load_tenants({a.tenant for a in alerts})
        stored = await rules_repo.by_id(
            self.session, sorted({a.rule_id for a in alerts} - set(self.builtins))
        )
        self._read_clock()
        for alert in alerts:
            if alert.rule_id in self.builtins:
                rule: RuleView | None = self.builtins[alert.rule_id]
            else:
                row = stored.get(alert.rule_id)
                rule = rule_view(row) if row is not None and row.enabled else None
            if rule is None:  # closed when its rule was deleted or disabled
                alert.due_at, alert.dirty = None, True
                continue
            obs = Observation.tick()
            cond = rule.condition
            if cond.kind is ConditionKind.NO_DATA and cond.no_data_for is not None:
                since = alert.status.last_seen_at or rule.created_at or self.now
                verdict = absent_verdict(since, cond.no_data_for, self.now)
                if verdict is not None:
                    obs = Observation(verdict, None, fresh=False)
            self._step(alert, rule, obs)
        await self.flush()
        return len(alerts)

    async def close_rule_alerts(self, tenant: str, rule: RuleView) -> None:
        """The rule is gone, disabled or changed its identity: resolve what it holds open."""
        await self.loaded.load_tenants({tenant})
        rows = await alerts_repo.rows_of_rule(self.session, tenant, rule.id)
        alerts = [self.loaded.hold(live_of(row)) for row in rows]
        await self._load_firing(alerts)
        self._read_clock()
        for alert in alerts:
            self._step(alert, closing(rule), CLOSED)
        await self.flush()

    async def _load_firing(self, alerts: Sequence[LiveAlert]) -> None:
        await self.loaded.load_firing({(a.tenant, a.labels.get("kpi", "")) for a in alerts})

    async def _ensure_absent_alerts(self) -> None:
        """A `no_data` rule on one KPI has an alert from its creation, so silence from the
        start is noticed too."""
        wanted = []
        for row in await rules_repo.absent_on_kpis(self.session):
            rule = rule_view(row)
            labels, fp = self.loaded.identity(rule, row.tenant, {"kpi": row.target})
            wanted.append((rule, row.tenant, fp, labels, row.target))
        await self.loaded.load_alerts({(tenant, fp) for _, tenant, fp, _, _ in wanted})
        new = []
        for rule, tenant, fp, labels, kpi in wanted:
            if self.loaded.alerts[(tenant, fp)] is None:
                live = new_alert(rule, tenant, fp, labels, "kpi", kpi, self.now)
                live.due_at = self.now  # this tick steps it: it works out its deadline
                self.loaded.alerts[(tenant, fp)] = live
                live.row = new_row(live, self.now)
                new.append(live.row)
        await alerts_repo.insert_rows(self.session, new)

    # --- the core ------------------------------------------------------------------------

    async def _evaluate(
        self,
        rule: RuleView,
        tenant: str,
        kind: str,
        subject: str,
        subject_labels: dict[str, str],
        observe: Callable[[LiveAlert | None], Observation],
    ) -> None:
        labels, fp = self.loaded.identity(rule, tenant, subject_labels)
        key, alerts = (tenant, fp), self.loaded.alerts
        if key not in alerts:  # prepared batches never get here: no coroutine per event
            await self.loaded.load_alerts({key})
            await self.loaded.load_firing({(tenant, labels.get("kpi", ""))})
        alert = alerts[key]
        if alert is None:
            if keeps_memory(rule):
                alert = new_alert(rule, tenant, fp, labels, kind, subject, self.now)
                obs = observe(alert)
            else:
                obs = observe(None)
                if not worth_tracking(rule, obs, self.now):
                    return  # each KPI and each rule would otherwise leave an inactive row
                alert = new_alert(rule, tenant, fp, labels, kind, subject, self.now)
            alerts[key] = alert
        else:
            obs = observe(alert)
        self._step(alert, rule, obs)

    def _step(self, live: LiveAlert, rule: RuleView, obs: Observation) -> None:
        """One observation through the state machine, in memory; `flush()` writes the row."""
        tenant = live.tenant
        labels = live.labels
        held = self.loaded.silences.get(tenant, ())
        silences = silenced_by(held, labels, self.now)
        was_firing = live.status.state is AlertState.FIRING
        # Every inhibit rule holds the `kpi` label equal: only that KPI's firing alerts count.
        firing = self.loaded.firing_on(tenant, labels.get("kpi", ""))
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
        cond = rule.condition
        absent_at = None
        if cond.kind is ConditionKind.NO_DATA and cond.no_data_for is not None:
            absent_at = (new.last_seen_at or rule.created_at or self.now) + cond.no_data_for
        live.due_at = next_tick(
            new,
            rule.policy,
            self.now,
            muted=marks.muted,
            absent_at=absent_at,
            marks_change_at=next_silence_change(held, labels, self.now),
        )
        if new.state is AlertState.FIRING:
            firing[live.fingerprint] = labels
        else:
            firing.pop(live.fingerprint, None)
        self._inhibition_moves(live, was_firing)
        for event in events:
            if isinstance(event, Transitioned):
                self.notifier.transitioned(live, event, marks)
            elif isinstance(event, Notify):
                self.notifier.notify(live, rule, event)

    def _inhibition_moves(self, live: LiveAlert, was_firing: bool) -> None:
        """Note a KPI's alert that started or stopped firing (its targets are due at the
        flush), and a target stepped since (it saw the KPI's firing alerts as they are)."""
        key = (live.tenant, live.labels.get("kpi", ""))
        if live.subject_kind == "kpi":
            if (live.status.state is AlertState.FIRING) != was_firing:
                self._inhibitors_moved[key] = set()
        elif key[1] and (seen := self._inhibitors_moved.get(key)) is not None:
            seen.add(live.fingerprint)
