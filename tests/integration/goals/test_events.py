"""On the real broker: a check-in that moves a KR puts `lodestar.kr.progress.v1` (and the
objective's `lodestar.objective.changed.v1`) on `okr.events`, keyed by tenant and subject."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.settings import Topics
from tests.integration.goals.conftest import Goals
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka

Records = list[ConsumerRecord[bytes, bytes]]


def of_type(records: Records, kind: str, subject: str) -> list[tuple[bytes | None, Any]]:
    found = []
    for record in records:
        event = json.loads(record.value)
        if event["type"] == kind and event["subject"] == subject:
            found.append((record.key, event))
    return found


async def test_check_in_emits_kr_progress_on_okr_events(
    goals: Goals, kafka_bootstrap: str, topics: Topics
) -> None:
    cycle = await goals.cycle(days_in=50, days_left=50)
    objective = await goals.objective(cycle["id"])
    kr = await goals.kr(objective["id"])

    async with TopicReader(kafka_bootstrap, topics.name(topics.okr_events)) as okr_events:
        # creating the KR announced its starting point
        await okr_events.wait_for(
            lambda rs: of_type(rs, "lodestar.kr.progress.v1", kr["id"]), what="the KR's creation"
        )
        await goals.check_in(kr["id"], value=45.0)

        def moved(records: Records) -> bool:
            return any(
                e["data"]["current"] == 45.0
                for _, e in of_type(records, "lodestar.kr.progress.v1", kr["id"])
            )

        records = await okr_events.wait_for(moved, what="the check-in's progress event")
        key, event = next(
            (k, e)
            for k, e in of_type(records, "lodestar.kr.progress.v1", kr["id"])
            if e["data"]["current"] == 45.0
        )
        assert key == f"acme/{kr['id']}".encode()
        assert event["tenant"] == "acme"
        assert event["source"] == "lodestar/goals"
        data = event["data"]
        assert data["objective_id"] == objective["id"]
        assert data["cycle_id"] == cycle["id"]
        assert data["progress"] == pytest.approx(0.45)
        assert data["raw_progress"] == pytest.approx(0.45)
        assert data["expected"] == pytest.approx(0.5, abs=0.01)
        assert data["status"] == "on_track"
        assert data["previous_status"] == "not_started"
        assert data["kpi"] is None
        assert data["source"] == "manual"

        await okr_events.wait_for(
            lambda rs: any(
                e["data"]["progress"] == pytest.approx(0.45)
                for _, e in of_type(rs, "lodestar.objective.changed.v1", objective["id"])
            ),
            what="the objective's change",
        )

        # The same value again changes nothing, so nothing more is announced for this KR.
        await goals.check_in(kr["id"], value=45.0)
        # The sentinel: a real change after it, announced in the same partition.
        await goals.check_in(kr["id"], value=46.0)
        await okr_events.wait_for(
            lambda rs: any(
                e["data"]["current"] == 46.0
                for _, e in of_type(rs, "lodestar.kr.progress.v1", kr["id"])
            ),
            what="the sentinel's progress",
        )
        assert (
            len(
                [
                    e
                    for _, e in of_type(okr_events.records, "lodestar.kr.progress.v1", kr["id"])
                    if e["data"]["current"] == 45.0
                ]
            )
            == 1
        )


async def test_rejected_change_emits_nothing(
    goals: Goals, kafka_bootstrap: str, topics: Topics
) -> None:
    """A write refused with 409 rolls back: no event leaves through the outbox."""
    cycle = await goals.cycle()
    objective = await goals.objective(cycle["id"])
    kr = await goals.kr(objective["id"])
    await goals.ok(await goals.client.post(f"/v1/cycles/{cycle['id']}/close"))
    async with TopicReader(kafka_bootstrap, topics.name(topics.okr_events)) as okr_events:
        await okr_events.wait_for(
            lambda rs: any(
                e["data"]["state"] == "closed"
                for _, e in of_type(rs, "lodestar.objective.changed.v1", objective["id"])
            ),
            what="the close",
        )
        refused = await goals.client.post(
            f"/v1/key-results/{kr['id']}/check-ins", json={"value": 80.0}
        )
        assert refused.status_code == 409
        # The sentinel: a change committed after the refusal, announced through the same
        # outbox and producer; then everything the topic holds is read.
        sentinel = await goals.kr((await goals.objective((await goals.cycle("next"))["id"]))["id"])
        await goals.check_in(sentinel["id"], value=10.0)
        await okr_events.wait_for(
            lambda rs: bool(of_type(rs, "lodestar.kr.progress.v1", sentinel["id"])),
            what="the sentinel's progress",
        )
        await okr_events.drain()
        assert not any(
            e["data"]["current"] == 80.0
            for _, e in of_type(okr_events.records, "lodestar.kr.progress.v1", kr["id"])
        )
