"""`/healthz`, `/readyz` and `/metrics`: the same three endpoints on every service.

Each app has its own Prometheus registry, so three services in one test process never clash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


class Metrics:
    """The counters a service exports; services add their own on `registry`."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.consumed = Counter(
            "lodestar_consumed_records",
            "Records consumed from Kafka and stored",
            ["service"],
            registry=self.registry,
        ).labels(service)
        self.dead_lettered = Counter(
            "lodestar_dead_lettered_records",
            "Records sent to a dead-letter topic",
            ["service"],
            registry=self.registry,
        ).labels(service)

    def on_batch(self, records: int, rejected: int) -> None:
        self.consumed.inc(records - rejected)
        self.dead_lettered.inc(rejected)


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database and Kafka reachable, background loops running",
        responses={503: {"description": "Not ready; the body says which check failed"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        runtime = request.app.state.runtime
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
        failing = runtime.supervisor.failing()
        checks["loops"] = "ok" if not failing else f"failing: {', '.join(failing)}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        registry = request.app.state.runtime.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
