"""/v1/alerts: alerts by fingerprint, their history, acknowledgements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.domain.evaluation import AlertState
from services.alerts.errors import AlertNotFound
from services.alerts.schemas import AckCreate, AckRead, AlertDetail, AlertRead, HistoryRead
from services.alerts.service.evaluate import generator_url_for
from services.alerts.service.marks import acknowledge
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert
from shared.errors import BadRequest, problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=problem_responses(401, 403))


def alert_read(alert: Alert, settings: AlertsSettings) -> AlertRead:
    ack = (
        AckRead(by=alert.acked_by or "", at=alert.acked_at, note=alert.ack_note)
        if alert.acked_at is not None
        else None
    )
    return AlertRead(
        fingerprint=alert.fingerprint,
        rule_id=alert.rule_id,
        state=alert.state,
        subject_kind=alert.subject_kind,
        subject=alert.subject,
        value=alert.value,
        starts_at=alert.started_at,
        ends_at=alert.ended_at,
        active_since=alert.active_since,
        last_seen_at=alert.last_seen_at,
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=generator_url_for(settings, alert.subject_kind, alert.subject),
        silenced_by=alert.silenced_by,
        inhibited=alert.inhibited,
        acknowledged=ack,
        updated_at=alert.updated_at,
    )


@router.get("", response_model=Page[AlertRead], responses=problem_responses(400, 422))
async def list_alerts(
    caller: Reader,
    session: ReadSession,
    settings: SettingsDep,
    state: Annotated[list[AlertState] | None, Query(description="Any of these states")] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    label: Annotated[
        list[str] | None,
        Query(description="`name=value`, repeatable; every one must match", max_length=20),
    ] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[AlertRead]:
    """Alerts of every state (silenced, inhibited and acknowledged ones included: those are
    marks, shown on each alert), in a stable order."""
    labels: dict[str, str] = {}
    for text in label or []:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise BadRequest(f"label filter {text!r} must read name=value")
        labels[name] = value
    if severity is not None:
        labels["severity"] = severity
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 1 or not isinstance(values[0], str):
            raise BadRequest("invalid cursor")
        after = values[0]
    rows = await repository.list_alerts(
        session,
        caller.tenant,
        states=[s.value for s in state or []],
        labels=labels,
        limit=limit,
        after=after,
    )
    next_cursor = encode_cursor([rows[-1].fingerprint]) if len(rows) == limit else None
    return Page(items=[alert_read(a, settings) for a in rows], next_cursor=next_cursor)


@router.get("/{fingerprint}", response_model=AlertDetail, responses=problem_responses(404))
async def get_alert(
    fingerprint: str, caller: Reader, session: ReadSession, settings: SettingsDep
) -> AlertDetail:
    """One alert with the history of every transition, notification and acknowledgement."""
    alert = await repository.get_alert(session, caller.tenant, fingerprint)
    if alert is None:
        raise AlertNotFound(f"no alert '{fingerprint}'")
    history = await repository.history(session, caller.tenant, fingerprint)
    return AlertDetail(
        **alert_read(alert, settings).model_dump(),
        history=[HistoryRead.model_validate(h, from_attributes=True) for h in history],
    )


@router.post(
    "/{fingerprint}/ack", response_model=AlertRead, responses=problem_responses(404, 409, 422)
)
async def ack_alert(
    fingerprint: str,
    body: AckCreate,
    caller: Writer,
    session: WriteSession,
    settings: SettingsDep,
) -> AlertRead:
    """Acknowledge an active alert (who, when, note): it stays listed, and is not repeated."""
    alert = await acknowledge(
        session, caller.tenant, fingerprint, body, f"key:{caller.key_id}", utcnow()
    )
    return alert_read(alert, settings)
