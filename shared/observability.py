"""`/healthz`, `/readyz` and `/metrics`: the same three endpoints on every service.

Each app has its own Prometheus registry, so three services in one test process never clash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from shared.api import PUBLIC, Admin
from shared.inbound import Rejection
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.runtime import Runtime


class Metrics:
    """The metrics a service exports (the consume loops' and the outbox's); services add
    their own on `registry`. Gauges of state (lag, backlog) are read when scraped
    (`Runtime.refresh_gauges`), so the consume loop pays nothing for them."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.consumed = Counter(
            "lodestar_consumed_records",
            "Records consumed from Kafka and stored",
            ["service"],
            registry=self.registry,
        ).labels(service)
        self.dead_lettered = Counter(
            "lodestar_dead_lettered_records",
            "Records sent to a dead-letter topic, by consume loop and reason category "
            "(invalid_event, too_large, outside_window, handler_failed, unknown_reference, "
            "unexpected_type, other); the reason itself is in the record's header",
            ["service", "loop", "reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "lodestar_consumer_batch_retries",
            "Handler attempts that failed and were retried: kind=transient (the same records "
            "again, after a backoff) or isolate (a deterministic failure: the batch split)",
            ["service", "loop", "kind"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "lodestar_consumer_lag",
            "Records behind, per partition: the high-water mark minus the first offset not "
            "yet stored",
            ["service", "loop", "topic", "partition"],
            registry=self.registry,
        )
        self.stuck = Gauge(
            "lodestar_consumer_stuck_seconds",
            "How long the batch in hand has been failing with no attempt succeeding (0: not)",
            ["service", "loop"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "lodestar_outbox_backlog_rows",
            "Outbox rows not yet published to Kafka",
            ["service"],
            registry=self.registry,
        ).labels(service)
        self.outbox_oldest_age = Gauge(
            "lodestar_outbox_oldest_unsent_age_seconds",
            "Age of the oldest outbox row not yet published (0 when there is none)",
            ["service"],
            registry=self.registry,
        ).labels(service)

    def batch_stored(self, loop: str, stored: int, rejections: Sequence[Rejection]) -> None:
        self.consumed.inc(stored - len(rejections))
        for rejection in rejections:
            self.dead_lettered.labels(self.service, loop, rejection.kind).inc()

    def batch_retried(self, loop: str, kind: str) -> None:
        self.retries.labels(self.service, loop, kind).inc()


async def _readiness(runtime: Any) -> dict[str, Any]:
    """Each readiness check by name: "ok", or what fails."""
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(runtime.db.ping(), 2)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failing: {exc}"
    try:
        await asyncio.wait_for(runtime.producer.ping(), 2)
        checks["kafka"] = "ok"
    except Exception as exc:
        checks["kafka"] = f"failing: {exc or type(exc).__name__}"
    # A loop is not ok when it is down (crashed, restarting) or stuck (its batch failing
    # for longer than `consumer_stuck_after_s`, e.g. on a database outage).
    problems = []
    failing = runtime.supervisor.failing()
    if failing:
        problems.append(f"failing: {', '.join(failing)}")
    stuck = runtime.stuck()
    if stuck:
        problems.append("stuck: " + ", ".join(f"{n} ({s:.0f} s)" for n, s in stuck.items()))
    checks["loops"] = "; ".join(problems) or "ok"
    return checks


def health_router(settings: ServiceSettings) -> APIRouter:
    """`/healthz` (public), `/readyz` (public; its reasons only if `public_readyz_detail`),
    `/metrics` (public if `public_metrics`, else for admin keys)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers", openapi_extra=PUBLIC)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database and Kafka reachable, background loops running, no consumer "
        "stuck",
        responses={503: {"description": "Not ready; the body says which check failed"}},
        openapi_extra=PUBLIC,
    )
    async def readyz(request: Request) -> JSONResponse:
        checks = await _readiness(request.app.state.runtime)
        ready = all(v == "ok" for v in checks.values())
        if not settings.public_readyz_detail:
            # Errors of the database driver or the broker client name hosts and users.
            checks = {name: "ok" if v == "ok" else "failing" for name, v in checks.items()}
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def scrape(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        await runtime.refresh_gauges()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.public_metrics:

        @router.get(
            "/metrics", summary="Prometheus metrics", response_class=Response, openapi_extra=PUBLIC
        )
        async def metrics(request: Request) -> Response:
            return await scrape(request)

    else:

        @router.get("/metrics", summary="Prometheus metrics (admin keys)", response_class=Response)
        async def admin_metrics(request: Request, caller: Admin) -> Response:
            return await scrape(request)

    return router
