"""/v1/alerts: alerts by fingerprint, their history, acknowledgements (put on, taken off)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.domain.evaluation import AlertState
from services.alerts.mappers import alert_detail, alert_read
from services.alerts.schemas import AckCreate, AlertDetail, AlertRead
from services.alerts.service import alerts as service
from shared.errors import BadRequest, problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, page_of

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=problem_responses(401, 403))


@router.get("", response_model=Page[AlertRead], responses=problem_responses(400, 404, 422))
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
    now = utcnow()
    return page_of(
        await service.list_alerts(
            session,
            caller.tenant,
            states=[s.value for s in state or []],
            labels=labels,
            limit=limit,
            cursor=cursor,
        ),
        lambda row: alert_read(row, settings, now),
    )


@router.get("/{fingerprint}", response_model=AlertDetail, responses=problem_responses(404))
async def get_alert(
    fingerprint: str, caller: Reader, session: ReadSession, settings: SettingsDep
) -> AlertDetail:
    """One alert with the history of every transition, notification and acknowledgement."""
    alert, history = await service.get_alert(session, caller.tenant, fingerprint)
    return alert_detail(alert, history, settings, utcnow())


@router.post(
    "/{fingerprint}/ack",
    response_model=AlertRead,
    responses=problem_responses(400, 404, 409, 422),
)
async def ack_alert(
    fingerprint: str,
    body: AckCreate,
    caller: Writer,
    session: WriteSession,
    settings: SettingsDep,
) -> AlertRead:
    """Acknowledge an active alert (who, when, note, optionally until `expires_at` or for `ttl`
    seconds): it stays listed, is not repeated, and `lodestar.alert.acknowledged.v1` is
    published on `alerts` and to the rule's webhook."""
    now = utcnow()
    alert = await service.acknowledge(
        session, settings, caller.tenant, fingerprint, body, f"key:{caller.key_id}", now
    )
    return alert_read(alert, settings, now)


@router.delete(
    "/{fingerprint}/ack", response_model=AlertRead, responses=problem_responses(404, 409)
)
async def unack_alert(
    fingerprint: str, caller: Writer, session: WriteSession, settings: SettingsDep
) -> AlertRead:
    """Take the acknowledgement off: the alert is repeated again, and
    `lodestar.alert.unacknowledged.v1` is published on `alerts` and to the rule's webhook."""
    now = utcnow()
    alert = await service.unacknowledge(
        session, settings, caller.tenant, fingerprint, f"key:{caller.key_id}", now
    )
    return alert_read(alert, settings, now)
