"""Use cases of the alerts service: manage rules, evaluate KPI values. Never commits."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts import repository
from services.alerts.domain.evaluation import (
    AlertState,
    AlertStatus,
    Operator,
    Threshold,
    Transition,
    fingerprint,
    step,
)
from services.alerts.schemas import RuleCreate
from services.alerts.tables import Alert, AlertRule
from shared.events import (
    ALERT_FIRING_V1,
    ALERT_RESOLVED_V1,
    AlertV1,
    CloudEvent,
    KpiValueV1,
    new_event,
    utcnow,
)
from shared.outbox import enqueue
from shared.settings import ServiceSettings


async def create_rule(session: AsyncSession, tenant: str, body: RuleCreate) -> AlertRule:
    rule = AlertRule(id=str(uuid.uuid4()), tenant=tenant, created_at=utcnow(), **body.model_dump())
    session.add(rule)
    await session.flush()
    return rule


def _labels(rule: AlertRule, tenant: str) -> dict[str, str]:
    return {
        **rule.labels,
        "alertname": rule.name,
        "tenant": tenant,
        "severity": rule.severity,
        "kpi": rule.kpi,
    }


async def evaluate_kpi_value(
    session: AsyncSession, event: CloudEvent, value: KpiValueV1, settings: ServiceSettings
) -> None:
    """Step every rule on this KPI with the new value; publish what fired or resolved."""
    now = utcnow()
    for rule in await repository.rules_for_kpi(session, event.tenant, value.kpi):
        labels = _labels(rule, event.tenant)
        fp = fingerprint(labels)
        alert = await repository.get_alert(session, event.tenant, fp)
        current = (
            AlertStatus(
                AlertState(alert.state),
                alert.active_since,
                alert.started_at,
                alert.ended_at,
                alert.value,
            )
            if alert is not None
            else AlertStatus()
        )
        threshold = Threshold(
            Operator(rule.operator), rule.threshold, timedelta(seconds=rule.for_seconds)
        )
        new, transition = step(current, value.value, threshold, now)
        if alert is None:
            alert = Alert(
                tenant=event.tenant,
                fingerprint=fp,
                rule_id=rule.id,
                state=new.state,
                labels=labels,
                annotations=rule.annotations,
                updated_at=now,
            )
            session.add(alert)
        alert.state = new.state
        alert.active_since, alert.started_at, alert.ended_at = (
            new.active_since,
            new.started_at,
            new.ended_at,
        )
        alert.value = new.value
        alert.updated_at = now
        if transition is not None:
            await _publish(session, alert, transition, settings)
    await session.flush()


async def _publish(
    session: AsyncSession, alert: Alert, transition: Transition, settings: ServiceSettings
) -> None:
    assert alert.started_at is not None
    data = AlertV1(
        status="firing" if transition is Transition.FIRED else "resolved",
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.started_at,
        ends_at=alert.ended_at,
        generator_url=f"{settings.public_url}/v1/alerts/{alert.fingerprint}",
        fingerprint=alert.fingerprint,
        value=alert.value,
        subject=alert.labels.get("kpi", ""),
    )
    event = new_event(
        type=ALERT_FIRING_V1 if transition is Transition.FIRED else ALERT_RESOLVED_V1,
        source=f"lodestar/{settings.service_name}",
        tenant=alert.tenant,
        subject=alert.fingerprint,
        data=data,
    )
    await enqueue(session, settings.topics.name(settings.topics.alerts), event)
