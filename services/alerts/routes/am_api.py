"""/api/v2: the subset of Alertmanager's API v2 that amtool, Grafana's Alertmanager data
source and Karma use, over Lodestar's alerts and silences, behind the same API keys.

Kept out of Lodestar's OpenAPI document (`include_in_schema=False`): its contract is
Alertmanager's (`api/v2/openapi.yaml` upstream), not Lodestar's, and its errors are
Alertmanager's plain JSON strings, not problem+json — amtool refuses any other content type.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.alerts.am_schemas import PostableSilence
from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.domain import alertmanager as am
from services.alerts.domain.regex import compile_anchored
from services.alerts.service import alertmanager as service
from shared.errors import ProblemError
from shared.events import utcnow

API_VERSION = "0.28.1+lodestar"  # the Alertmanager release whose API v2 this answers as
CONFIG = "route:\n  receiver: lodestar\nreceivers:\n  - name: lodestar\n"
STARTED_AT = utcnow()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(message, status_code=status, headers=headers)


class AlertmanagerRoute(APIRoute):
    """Answers every error as Alertmanager does: `application/json`, the message as a JSON
    string."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ProblemError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                headers = exc.extra.get("headers", headers)  # e.g. a 429's Retry-After
                return _error(exc.status, exc.detail or exc.title, headers)
            except (RequestValidationError, pydantic.ValidationError) as exc:
                detail = "; ".join(
                    f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                return _error(400, detail)
            except StarletteHTTPException as exc:
                return _error(exc.status_code, str(exc.detail))

        return route


router = APIRouter(prefix="/api/v2", route_class=AlertmanagerRoute, include_in_schema=False)

FilterQuery = Annotated[list[str], Query(alias="filter", max_length=20)]


def _alert_query(
    filters: list[str], active: bool, silenced: bool, inhibited: bool, receiver: str | None
) -> am.AlertQuery:
    try:
        matchers = am.parse_filter(filters)
        if receiver is not None:
            compile_anchored(receiver)
    except ValueError as exc:
        raise _BadRequest(str(exc)) from exc
    return am.AlertQuery(
        matchers=matchers,
        active=active,
        silenced=silenced,
        inhibited=inhibited,
        receiver=receiver,
    )


class _BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


@router.get("/status")
async def status(caller: Reader) -> dict[str, Any]:
    return am.status(version=API_VERSION, started_at=STARTED_AT, config=CONFIG)


@router.get("/receivers")
async def receivers(caller: Reader) -> list[dict[str, str]]:
    return [{"name": am.RECEIVER}]


@router.get("/alerts")
async def alerts(
    caller: Reader,
    session: ReadSession,
    settings: SettingsDep,
    filters: FilterQuery = [],  # noqa: B006 (FastAPI copies query defaults)
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    unprocessed: bool = True,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    """Firing alerts, muted ones marked `suppressed` (Lodestar processes every alert at once,
    so none is ever `unprocessed`)."""
    query = _alert_query(filters, active, silenced, inhibited, receiver)
    return am.select(await service.alerts(session, settings, caller.tenant), query, utcnow())


@router.get("/alerts/groups")
async def alert_groups(
    caller: Reader,
    session: ReadSession,
    settings: SettingsDep,
    filters: FilterQuery = [],  # noqa: B006
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    query = _alert_query(filters, active, silenced, inhibited, receiver)
    return am.groups(await service.alerts(session, settings, caller.tenant), query, utcnow())


@router.get("/silences")
async def silences(
    caller: Reader,
    session: ReadSession,
    filters: FilterQuery = [],  # noqa: B006
) -> list[dict[str, Any]]:
    matchers = _alert_query(filters, True, True, True, None).matchers
    return await service.list_silences(session, caller.tenant, matchers, utcnow())


@router.post("/silences")
async def post_silence(
    body: PostableSilence, caller: Writer, session: WriteSession, settings: SettingsDep
) -> dict[str, str]:
    """A Lodestar silence (the same as `POST /v1/silences`); with `id`, it replaces that one."""
    quota = settings.max_silences_per_tenant
    silence_id = await service.post_silence(session, caller.tenant, body, utcnow(), quota=quota)
    return {"silenceID": silence_id}


@router.get("/silence/{silence_id}")
async def get_silence(silence_id: str, caller: Reader, session: ReadSession) -> dict[str, Any]:
    return await service.get_silence(session, caller.tenant, silence_id, utcnow())


@router.delete("/silence/{silence_id}")
async def delete_silence(silence_id: str, caller: Writer, session: WriteSession) -> Response:
    """Expire the silence now (Alertmanager's expire)."""
    await service.expire_silence(session, caller.tenant, silence_id, utcnow())
    return Response(status_code=200)
