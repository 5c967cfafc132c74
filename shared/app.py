"""The FastAPI app every service is: problem+json errors, operations endpoints, its routers,
and a lifespan that starts and stops the service's `Runtime`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from shared import bounds, pagination
from shared.api import annotate_scopes
from shared.crypto import require_secret
from shared.errors import document_problems, install_problem_handlers
from shared.limits import BodyLimit, RateLimiter
from shared.logging import configure_logging
from shared.observability import health_router
from shared.runtime import ConsumerSpec, Runtime
from shared.settings import ServiceSettings

ConsumersFactory = Callable[[Runtime], Sequence[ConsumerSpec]]


def tune_gc() -> None:
    """Take what start-up made (modules, the ORM's and pydantic's schemas, the app, the
    clients) out of the cyclic garbage collector's sight, and collect less often.

    It lives as long as the process, and every full (generation 2) collection walked all of
    it, each a stall of the event loop: 90-190 ms per pass at 1,000 events/s in each service
    (`bench/e2e_latency.py` with a `gc.callbacks` probe), several a minute. Garbage is
    collected first, so only live objects are frozen; afterwards no full pass in a 25 s run
    took longer than 35 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def _document_scopes(app: FastAPI) -> None:
    """Each operation's `x-lodestar-scope` in the OpenAPI document (routes included after
    this call too: the document is made on first request)."""
    documented = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = documented()
        if first:
            annotate_scopes(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_service_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    migrations: Path,
    consumers: ConsumersFactory = lambda _runtime: (),
    identity: bool = True,
) -> FastAPI:
    """Assemble one service; `consumers` builds its consumer specs once the runtime exists."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        bounds.configure(max_future_skew_s=settings.max_future_skew_s)
        pagination.configure(require_secret(settings.secret_key))
        runtime = Runtime(settings, migrations=migrations)
        app.state.runtime = runtime
        try:
            await runtime.start(consumers(runtime), identity=identity)
            if settings.gc_freeze:
                tune_gc()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    install_problem_handlers(app)
    document_problems(app)
    _document_scopes(app)
    app.include_router(health_router(settings))
    for router in routers:
        app.include_router(router, prefix="/v1")
    return app
