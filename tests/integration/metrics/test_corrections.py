"""Corrections on the real broker and both databases: a restated measurement (higher
`revision`) and a retracted one (`lodestar.kpi.measurement.retracted.v1`, or
`POST /v1/measurements/retractions`) change the period's rollup exactly — sum, count, min,
max, last — its series, and the `kpi.value` published, whose `revision` rises; a retraction
applied twice is a no-op, one that overtakes its measurement is kept as a tombstone, and bad
corrections are refused as measurements are."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.consumer import REASON_HEADER
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.metrics.support import create_kpi, metrics_service
from tests.support.apps import RunningApp
from tests.support.events import measurement
from tests.support.kafka import TopicReader, produce, wait_until

pytestmark = pytest.mark.kafka

DAY1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Records = list[ConsumerRecord[bytes, bytes]]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def retraction(
    tenant: str, kpi: str, id: str, *, source: str = "tests/producer", **data: Any
) -> bytes:
    """A `lodestar.kpi.measurement.retracted.v1` as a producer would send it."""
    event = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.retracted.v1",
        "id": str(uuid.uuid4()),
        "source": "tests/corrector",
        "time": iso(datetime.now(UTC)),
        "subject": kpi,
        "tenant": tenant,
        "datacontenttype": "application/json",
        "data": {"source": source, "id": id, **data},
    }
    return json.dumps(event).encode()


async def post(service: RunningApp, path: str, body: Any, status: int = 202) -> Any:
    answer = await service.client.post(path, json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


async def day1(service: RunningApp, kpi: str) -> dict[str, Any] | None:
    """Day 1's point of the KPI's series (None when the day has no data)."""
    params = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}
    answer = await service.client.get(f"/v1/kpis/{kpi}/series", params=params)
    assert answer.status_code == 200, answer.text
    [point] = answer.json()["points"]
    return None if point["value"] is None else dict(point)


async def settled(service: RunningApp, kpi: str, value: float | None, count: int) -> None:
    async def check() -> bool:
        point = await day1(service, kpi)
        got = None if point is None else (point["value"], point["count"])
        return got == (None if value is None else (value, count))

    await wait_until(check, what=f"{kpi} at ({value}, {count})")


def values_of(records: Records, kpi: str) -> list[dict[str, Any]]:
    """The `kpi.value` data published for the KPI, in order (one key: one partition)."""
    found = []
    for record in records:
        event = json.loads(record.value)
        if event["subject"] == kpi:
            found.append(event["data"])
    return found


def has(kpi: str, **expected: Any) -> Any:
    def check(records: Records) -> bool:
        return any(
            all(data[k] == v for k, v in expected.items()) for data in values_of(records, kpi)
        )

    return check


class TestRestatement:
    async def test_a_higher_revision_replaces_the_value_and_a_lower_one_changes_nothing(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.kpi_values)) as values,
        ):
            for key, agg in [("rev", "sum"), ("peak", "max"), ("low", "min"), ("now", "last")]:
                await create_kpi(service, key, aggregation=agg)
            points = [(10.0, 0), (4.0, 1), (7.0, 2)]  # value, hours after DAY1
            for kpi in ("rev", "peak", "low", "now"):
                body = [
                    {"kpi": kpi, "value": v, "time": iso(DAY1 + timedelta(hours=h))}
                    | {"id": f"{kpi}-m{i}"}
                    for i, (v, h) in enumerate(points)
                ]
                await post(service, "/v1/measurements", body)
            await settled(service, "rev", 21.0, 3)
            await settled(service, "now", 7.0, 3)
            # m0 (the max) restated to 1 and moved to the latest time; m2 restated twice, the
            # older revision after the newer (it must not win). Ids are per source, not per
            # KPI: each KPI's points have their own.
            restated = [
                {"value": 1.0, "time": iso(DAY1 + timedelta(hours=3)), "id": "m0", "revision": 1},
                {"value": 5.0, "time": iso(DAY1 + timedelta(hours=2)), "id": "m2", "revision": 2},
                {"value": 6.0, "time": iso(DAY1 + timedelta(hours=2)), "id": "m2", "revision": 1},
            ]
            for kpi in ("rev", "peak", "low", "now"):
                body = [m | {"kpi": kpi, "id": f"{kpi}-{m['id']}"} for m in restated]
                await post(service, "/v1/measurements", body)
            # Independently: the points are now 1 (3 h), 4 (1 h), 5 (2 h).
            await settled(service, "rev", 10.0, 3)
            await settled(service, "peak", 5.0, 3)
            await settled(service, "low", 1.0, 3)
            await settled(service, "now", 1.0, 3)
            records = await values.wait_for(
                has("rev", value=10.0, count=3), what="the restated sum published"
            )
            published = values_of(records, "rev")
            assert published[-1]["revision"] >= 1
            revisions = [d["revision"] for d in published]
            assert revisions == sorted(revisions)
            assert published[0]["revision"] == 0
            # A redelivery of the original (revision 0) and of revision 2 change nothing;
            # a fresh point is the sentinel.
            again = [
                {"kpi": "rev", "value": 10.0, "time": iso(DAY1), "id": "rev-m0"},
                {"kpi": "rev", "value": 5.0, "time": iso(DAY1 + timedelta(hours=2)), "id": "rev-m2"}
                | {"revision": 2},
                {"kpi": "rev", "value": 100.0, "time": iso(DAY1), "id": "sentinel"},
            ]
            await post(service, "/v1/measurements", again)
            await settled(service, "rev", 110.0, 4)
            await values.wait_for(has("rev", value=110.0), what="the sentinel's value")
            await values.drain()
            published = [
                (d["value"], d["count"], d["revision"]) for d in values_of(values.records, "rev")
            ]
            restated_at = max(i for i, p in enumerate(published) if p[:2] == (10.0, 3))
            revision = published[restated_at][2]
            assert published[restated_at + 1 :] == [(110.0, 4, revision)]

    async def test_a_revision_needs_an_id(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            await create_kpi(service, "rev", aggregation="sum")
            body = {"kpi": "rev", "value": 1.0, "time": iso(DAY1), "revision": 1}
            answer = await service.client.post("/v1/measurements", json=body)
            assert answer.status_code == 422, answer.text
            assert "id" in answer.text


class TestRetraction:
    async def test_retracting_lowers_sum_and_count_and_publishes_the_new_aggregate(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.kpi_values)) as values,
        ):
            await create_kpi(service, "mql", aggregation="sum", green=20.0, amber=10.0)
            body = [
                {"kpi": "mql", "value": v, "time": iso(DAY1 + timedelta(minutes=i)), "id": f"m{i}"}
                for i, v in enumerate([12.0, 8.0, 5.0])
            ]
            accepted = await post(service, "/v1/measurements", body)
            await settled(service, "mql", 25.0, 3)
            await values.wait_for(has("mql", value=25.0, count=3), what="the first aggregate")

            answer = await post(service, "/v1/measurements/retractions", {"kpi": "mql", "id": "m0"})
            assert len(answer["ids"]) == 1
            await settled(service, "mql", 13.0, 2)
            records = await values.wait_for(
                has("mql", value=13.0, count=2), what="the aggregate without m0"
            )
            [event] = [d for d in values_of(records, "mql") if d["count"] == 2]
            assert event["health"] == "amber"
            assert event["revision"] == 1
            assert event["last_value"] == 5.0
            current = (await service.client.get("/v1/kpis/mql/value")).json()
            assert (current["value"], current["count"], current["revision"]) == (13.0, 2, 1)
            assert (await day1(service, "mql") or {}).get("revision") == 1

            # The same retraction again (HTTP, then as an event on the topic with the HTTP
            # source) is a no-op; a new point after it is the sentinel.
            await post(service, "/v1/measurements/retractions", [{"kpi": "mql", "id": "m0"}])
            await produce(
                kafka_bootstrap,
                topics.name(topics.measurements),
                [retraction("acme", "mql", "m0", source=accepted["source"])],
                keys=["acme/mql"],
            )
            sentinel = {"kpi": "mql", "value": 1.0, "time": iso(DAY1), "id": "sentinel"}
            await post(service, "/v1/measurements", sentinel)
            await settled(service, "mql", 14.0, 3)
            await values.wait_for(has("mql", value=14.0, count=3), what="the sentinel")
            await values.drain()
            published = [
                (d["value"], d["count"], d["revision"]) for d in values_of(values.records, "mql")
            ]
            assert published[-2:] == [(13.0, 2, 1), (14.0, 3, 1)]

            # Retract every point: the period has no data, and says so.
            every = [{"kpi": "mql", "id": i} for i in ("m1", "m2", "sentinel")]
            await post(service, "/v1/measurements/retractions", every)
            await settled(service, "mql", None, 0)
            records = await values.wait_for(has("mql", count=0), what="the emptied period")
            emptied = values_of(records, "mql")[-1]
            assert (emptied["value"], emptied["health"]) == (0.0, "no_data")
            assert emptied["revision"] > 1
            current = (await service.client.get("/v1/kpis/mql/value")).json()
            assert (current["value"], current["count"]) == (None, 0)
            # The series still says the emptied day's revision (what orders its readings).
            params = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}
            series = (await service.client.get("/v1/kpis/mql/series", params=params)).json()
            [point] = series["points"]
            assert (point["value"], point["count"]) == (None, 0)
            assert point["revision"] == emptied["revision"]

            # A new point lands in the emptied period as in an empty one.
            await post(service, "/v1/measurements", {"kpi": "mql", "value": 3.0, "time": iso(DAY1)})
            await settled(service, "mql", 3.0, 1)
            records = await values.wait_for(has("mql", value=3.0, count=1), what="a new point")
            # The hot path's merge keeps the revision: the new value orders after the last.
            assert values_of(records, "mql")[-1]["revision"] == emptied["revision"]

    async def test_a_retraction_before_its_measurement_is_kept_as_a_tombstone(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        topic = topics.name(topics.measurements)
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            await create_kpi(service, "mql", aggregation="count")
            await produce(
                kafka_bootstrap, topic, [retraction("acme", "mql", "early")], ["acme/mql"]
            )
            await post(service, "/v1/measurements/retractions", {"kpi": "mql", "id": "h-early"})
            await post(
                service,
                "/v1/measurements",
                {"kpi": "mql", "value": 1.0, "time": iso(DAY1), "id": "first"},
            )
            await settled(service, "mql", 1.0, 1)
            # The measurements arrive: ignored, as is a later revision of one; a fresh point
            # after them is the sentinel.
            late = [
                measurement("acme", "mql", 5.0, id="early", time=DAY1),
                measurement("acme", "mql", 6.0, id="early", time=DAY1).replace(
                    b'"value": 6.0', b'"value": 6.0, "revision": 3'
                ),
            ]
            await produce(kafka_bootstrap, topic, late, ["acme/mql"] * 2)
            await post(
                service,
                "/v1/measurements",
                {"kpi": "mql", "value": 1.0, "time": iso(DAY1), "id": "h-early"},
            )
            await post(
                service,
                "/v1/measurements",
                {"kpi": "mql", "value": 1.0, "time": iso(DAY1), "id": "sentinel"},
            )
            await settled(service, "mql", 2.0, 2)
            current = (await service.client.get("/v1/kpis/mql/value")).json()
            assert current["count"] == 2

    async def test_an_http_retraction_is_applied_where_proofs_are_required(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        """The production default refuses unsigned records: the retraction the API produces
        is signed with the caller's key, as its measurements are, and is applied; an
        unsigned one on the topic is dead-lettered (the proof is checked at all)."""
        url = await databases.new()
        topic = topics.name(topics.measurements)
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key, require_proof=True) as service,
            TopicReader(kafka_bootstrap, topics.dlq_for(topic)) as dlq,
        ):
            await create_kpi(service, "mql", aggregation="sum")
            body = [
                {"kpi": "mql", "value": v, "time": iso(DAY1 + timedelta(minutes=i)), "id": f"m{i}"}
                for i, v in enumerate([12.0, 8.0])
            ]
            await post(service, "/v1/measurements", body)
            await settled(service, "mql", 20.0, 2)
            await produce(kafka_bootstrap, topic, [retraction("acme", "mql", "m1")], ["acme/mql"])
            [refused] = await dlq.wait_for(lambda rs: len(rs) == 1, what="the unsigned one")
            assert b"proof" in dict(refused.headers)[REASON_HEADER]
            await post(service, "/v1/measurements/retractions", {"kpi": "mql", "id": "m0"})
            await settled(service, "mql", 8.0, 1)


class TestRefusals:
    async def test_unknown_kpis_and_bad_corrections_are_refused_with_a_reason(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq,
        ):
            await create_kpi(service, "mql", aggregation="sum")
            answer = await service.client.post(
                "/v1/measurements/retractions", json={"kpi": "nope", "id": "x"}
            )
            assert answer.status_code == 422, answer.text
            for body in (
                {"kpi": "mql", "id": ""},
                {"kpi": "mql", "id": "a\u0000b"},
                {"kpi": "mql", "id": "x" * 257},
                {"kpi": "mql", "id": "x", "extra": 1},
            ):
                answer = await service.client.post("/v1/measurements/retractions", json=body)
                assert answer.status_code == 422, (body, answer.text)
            for revision in (-1, 2**53 + 1, 1.5, True):
                body = {"kpi": "mql", "value": 1.0, "time": iso(DAY1), "id": "r"}
                answer = await service.client.post(
                    "/v1/measurements", json=body | {"revision": revision}
                )
                assert answer.status_code == 422, (revision, answer.text)

            def revised(revision: str) -> bytes:
                raw = measurement("acme", "mql", 1.0, id="r", time=DAY1)
                return raw.replace(
                    b'"value": 1.0', b'"value": 1.0, "revision": ' + revision.encode()
                )

            cases = [
                (retraction("acme", "nope", "x"), "unknown KPI 'nope'"),
                (retraction("globex", "mql", "x"), "unknown tenant 'globex'"),
                (retraction("acme", "mql", "a\u0000b"), "NUL"),
                (retraction("acme", "mql", ""), "id"),
                (retraction("acme", "mql", "x", extra=1), "extra"),
                (revised("-1"), "revision"),
                (revised("1.5"), "revision"),
                (revised("9007199254740993"), "revision"),
            ]
            records = [bad for bad, _ in cases] + [measurement("acme", "mql", 7.0, time=DAY1)]
            await produce(
                kafka_bootstrap,
                topics.name(topics.measurements),
                records,
                ["acme/mql"] * len(records),
            )
            await settled(service, "mql", 7.0, 1)
            await dlq.wait_for(lambda rs: len(rs) >= len(cases), what="every dead letter")
            await dlq.drain()
            assert len(dlq.records) == len(cases)
            reasons = {r.value: dict(r.headers)[REASON_HEADER].decode() for r in dlq.records}
            for bad, reason in cases:
                assert reason in reasons[bad], (reason, reasons.get(bad))
