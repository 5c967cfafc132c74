"""`/console/api/{metrics,alerts}/…`: the console's same-origin way to the metrics and alerts
REST APIs, forwarding each call with the caller's `Authorization` header to `/v1/…` there.

Why a proxy rather than CORS: the console is then one origin (one URL to open, one Content-
Security-Policy of `'self'`), metrics and alerts need no CORS settings and may sit on a network
the browser cannot reach, and they keep authenticating every call themselves: this forwards
the key and adds no authority of its own. The cost is one more hop through goals' event loop
per call (measured in the README, "Console").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
from fastapi import APIRouter, FastAPI, Request, Response

from services.goals.settings import GoalsSettings
from shared.api import SCOPE_EXTENSION
from shared.errors import NotFound, PayloadTooLarge, ProblemError

FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "if-none-match")
FORWARDED_RESPONSE_HEADERS = ("content-type", "etag", "retry-after", "location")
MAX_BODY_BYTES = 1024 * 1024


class UpstreamUnavailable(ProblemError):
    status, slug, title = 502, "upstream-unavailable", "The service behind the console is down"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One connection pool per upstream for the app's life (keep-alive saves a connect per
    poll); no redirects followed, no cookies kept, no environment proxies."""
    settings = app.state.runtime.settings
    assert isinstance(settings, GoalsSettings)
    bases = {"metrics": settings.metrics_url, "alerts": settings.alerts_url}
    clients = {
        name: httpx.AsyncClient(
            base_url=base.rstrip("/") + "/v1",
            timeout=settings.metrics_timeout_s,
            follow_redirects=False,
            trust_env=False,
        )
        for name, base in bases.items()
    }
    app.state.console_upstreams = clients
    try:
        yield
    finally:
        for client in clients.values():
            await client.aclose()


router = APIRouter(prefix="/console/api", include_in_schema=False)
# Authenticated by the service it forwards to, with the caller's own key.
FORWARDED = {SCOPE_EXTENSION: "forwarded"}


@router.api_route(
    "/{service}/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    openapi_extra=FORWARDED,
)
async def forward(service: Literal["metrics", "alerts"], path: str, request: Request) -> Response:
    segments = path.split("/")
    if not path or any(s in ("", ".", "..") for s in segments):
        raise NotFound(f"no console route '{path}'")
    client: httpx.AsyncClient = request.app.state.console_upstreams[service]
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("the console forwards bodies of at most 1 MiB")
    headers = {k: v for k in FORWARDED_REQUEST_HEADERS if (v := request.headers.get(k))}
    try:
        answer = await client.request(
            request.method,
            "/" + path,
            params=list(request.query_params.multi_items()),
            content=body or None,
            headers=headers,
        )
    except httpx.HTTPError as error:
        raise UpstreamUnavailable(f"{service} did not answer: {type(error).__name__}") from error
    kept = {k: v for k in FORWARDED_RESPONSE_HEADERS if (v := answer.headers.get(k))}
    return Response(answer.content, status_code=answer.status_code, headers=kept)
