"""/v1/measurements: HTTP ingest for systems that cannot speak Kafka."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi import APIRouter, status

from services.metrics.deps import Now, ReadSession, RuntimeDep, Writer
from services.metrics.errors import IngestUnavailable
from services.metrics.schemas import (
    MeasurementBatch,
    MeasurementIn,
    MeasurementsAccepted,
    RetractionBatch,
    RetractionIn,
    RetractionsAccepted,
)
from services.metrics.service import measurements as service
from shared.errors import problem_responses
from shared.producer import BrokerUnavailable
from shared.settings import ServiceSettings

router = APIRouter(prefix="/measurements", tags=["measurements"])

_RESPONSES = problem_responses(400, 401, 403, 422, 503)
_RESPONSES[503] = {
    **_RESPONSES[503],
    "description": "The broker did not acknowledge every measurement within "
    "`LODESTAR_INGEST_ACK_TIMEOUT_S`; resend the same request (same `id`s) after "
    "`Retry-After` seconds",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before resending",
            "schema": {"type": "integer"},
        }
    },
}


@contextlib.contextmanager
def _acknowledged(settings: ServiceSettings, what: str) -> Iterator[None]:
    """A broker that did not acknowledge every record in time: 503 with `Retry-After`."""
    try:
        yield
    except BrokerUnavailable as exc:
        raise IngestUnavailable(
            f"the event broker did not acknowledge the {what}: {exc}",
            headers={"Retry-After": str(settings.ingest_retry_after_s)},
        ) from exc


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MeasurementsAccepted,
    responses=_RESPONSES,
)
async def post_measurements(
    body: MeasurementIn | MeasurementBatch,
    caller: Writer,
    session: ReadSession,
    runtime: RuntimeDep,
) -> MeasurementsAccepted:
    """One measurement or a list of up to 1,000, produced to `kpi.measurements` for the
    caller's tenant. 202: the broker has acknowledged every one; they are stored moments
    later (a resent `id` from the same `source` is stored once).

    503 with `Retry-After`: the broker did not acknowledge them all within
    `LODESTAR_INGEST_ACK_TIMEOUT_S` (5 s by default). Some may still be stored; resend the
    same request with the same `id`s (give each measurement an `id`: without one, a fresh
    id is made per request and a resend could store a measurement twice) and each is stored
    exactly once.

    A measurement with a `revision` restates the one stored under its (`source`, `id`) when
    the revision is higher; see also `POST /v1/measurements/retractions`."""
    items = body if isinstance(body, list) else [body]
    settings = runtime.settings
    with _acknowledged(settings, "measurements"):
        events = await service.accept_measurements(
            session,
            runtime.producer,
            runtime.topic(settings.topics.measurements),
            caller,
            items,
            ack_timeout_s=settings.ingest_ack_timeout_s,
        )
    sources = {e.source for e in events}
    return MeasurementsAccepted(
        ids=[e.id for e in events], source=sources.pop() if len(sources) == 1 else None
    )


@router.post(
    "/retractions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetractionsAccepted,
    responses=_RESPONSES,
)
async def post_retractions(
    body: RetractionIn | RetractionBatch,
    caller: Writer,
    session: ReadSession,
    runtime: RuntimeDep,
    now: Now,
) -> RetractionsAccepted:
    """Withdraw measurements: one or a list of up to 1,000 (`kpi`, `id`, `source`), produced
    to `kpi.measurements` as `lodestar.kpi.measurement.retracted.v1`. 202: the broker has
    acknowledged every one; moments later each period they touch is recomputed from its
    remaining points and its new value published. Idempotent (resend freely on 503); an id
    not stored yet is kept as a tombstone, and the measurement is ignored if it arrives
    later. 422 for an unknown KPI."""
    items = body if isinstance(body, list) else [body]
    settings = runtime.settings
    with _acknowledged(settings, "retractions"):
        events = await service.accept_retractions(
            session,
            runtime.producer,
            runtime.topic(settings.topics.measurements),
            caller,
            items,
            now,
            ack_timeout_s=settings.ingest_ack_timeout_s,
        )
    return RetractionsAccepted(ids=[e.id for e in events])
