"""/v1/measurements: HTTP ingest for systems that cannot speak Kafka."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.metrics.deps import ReadSession, RuntimeDep, Writer
from services.metrics.schemas import MeasurementBatch, MeasurementIn, MeasurementsAccepted
from services.metrics.service import measurements as service
from shared.errors import problem_responses

router = APIRouter(prefix="/measurements", tags=["measurements"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MeasurementsAccepted,
    responses=problem_responses(400, 401, 403, 422),
)
async def post_measurements(
    body: MeasurementIn | MeasurementBatch,
    caller: Writer,
    session: ReadSession,
    runtime: RuntimeDep,
) -> MeasurementsAccepted:
    """One measurement or a list of up to 1,000, produced to `kpi.measurements` for the
    caller's tenant. 202: the broker has them; they are stored moments later (a resent `id`
    from the same `source` is stored once)."""
    items = body if isinstance(body, list) else [body]
    topic = runtime.topic(runtime.settings.topics.measurements)
    events = await service.accept_measurements(session, runtime.producer, topic, caller, items)
    sources = {e.source for e in events}
    return MeasurementsAccepted(
        ids=[e.id for e in events], source=sources.pop() if len(sources) == 1 else None
    )
