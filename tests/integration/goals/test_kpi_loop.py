"""The goals side of the KPI <-> OKR loop, on the real broker with metrics in-process:
linking checks the KPI with metrics, `kpi.values` moves linked KRs (check-ins with source
`kpi`, progress events), re-deliveries change nothing, met periods graduate a KR, a KPI is
promoted into a KR, and the timer marks a quiet KPI's KR stale."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.events import KPI_GUARDRAIL_REMOVED_V1, KpiGuardrailRemovedV1, new_event
from tests.integration.goals.conftest import Goals, Loop, iso, kpi_value_event, now, today
from tests.support.kafka import TopicReader, new_consumer, wait_until

pytestmark = pytest.mark.kafka

Records = list[ConsumerRecord[bytes, bytes]]
DAY = timedelta(days=1)


def now_iso() -> str:
    return iso(now())


def events_of(records: Records, kind: str, subject: str) -> list[dict[str, Any]]:
    found = []
    for record in records:
        event = json.loads(record.value)
        if event["type"] == kind and event["subject"] == subject:
            found.append(event)
    return found


async def kpi_check_ins(loop: Loop, kr_id: str) -> list[dict[str, Any]]:
    page = await loop.get(f"/v1/key-results/{kr_id}/check-ins", limit=100)
    return [c for c in page["items"] if c["source"] == "kpi"]


async def setup_kr(loop: Loop, kpi: str, **kr: Any) -> dict[str, Any]:
    cycle = await loop.cycle(days_in=50, days_left=50)
    objective = await loop.objective(cycle["id"])
    return dict(await loop.linked_kr(objective["id"], kpi, **kr))


class TestFollowKpiValues:
    async def test_a_kpi_value_moves_the_linked_kr(self, loop_db: Loop) -> None:
        loop = loop_db
        await loop.kpi("nps", period="day")
        kr = await setup_kr(loop, "nps", start=0.0, target=100.0)
        assert kr["kpi"] == "nps"
        assert kr["kpi_aggregation"] == "last"
        assert kr["kpi_period"] == "day"
        assert kr["current"] is None

        async with TopicReader(loop.bootstrap, loop.topics.name(loop.topics.okr_events)) as okr:
            first = kpi_value_event("nps", today(), 45.0)
            await loop.send_kpi_values("nps", first)

            async def moved() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got if got["current"] == 45.0 else None

            got = await wait_until(moved, what="the KR to follow the KPI")
            assert got["progress"] == pytest.approx(0.45)
            assert got["status"] == "on_track"
            assert got["kpi_last_at"] is not None
            assert got["periods_met"] == 0
            assert got["periods_elapsed"] in (49, 50, 51)

            [entry] = await kpi_check_ins(loop, kr["id"])
            assert entry["value"] == 45.0
            assert entry["author"] == "kpi:nps"
            assert entry["status"] == "on_track"

            records = await okr.wait_for(
                lambda rs: any(
                    e["data"]["current"] == 45.0
                    for e in events_of(rs, "lodestar.kr.progress.v1", kr["id"])
                ),
                what="the KR's progress event",
            )
            [event] = [
                e
                for e in events_of(records, "lodestar.kr.progress.v1", kr["id"])
                if e["data"]["current"] == 45.0
            ]
            assert event["data"]["source"] == "kpi"
            assert event["data"]["kpi"] == "nps"
            assert event["data"]["progress"] == pytest.approx(0.45)
            assert event["data"]["previous_status"] == "not_started"
            assert event["data"]["periods_met"] == 0

            # The same event delivered again changes nothing; a correction of the period
            # (sent after it, same partition) replaces the value and is recorded once.
            correction = kpi_value_event("nps", today(), 60.0)
            await loop.send_kpi_values("nps", first, correction)

            async def corrected() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got["current"] == 60.0

            await wait_until(corrected, what="the corrected period")
            entries = await kpi_check_ins(loop, kr["id"])
            assert [e["value"] for e in entries] == [60.0, 45.0]
            # The correction's own event is the sentinel: a doubled 45.0 would come before it.
            records = await okr.wait_for(
                lambda rs: any(
                    e["data"]["current"] == 60.0
                    for e in events_of(rs, "lodestar.kr.progress.v1", kr["id"])
                ),
                what="the correction's progress",
            )
            progress = events_of(records, "lodestar.kr.progress.v1", kr["id"])
            assert [e["data"]["current"] for e in progress if e["data"]["source"] == "kpi"] == [
                45.0,
                60.0,
            ]

    async def test_window_aggregation_and_periods_outside_the_window(self, loop: Loop) -> None:
        await loop.kpi("mql", period="day", aggregation="sum")
        kr = await setup_kr(loop, "mql", start=0.0, target=100.0, kpi_aggregation="sum")
        long_ago = today() - 400 * DAY  # before the cycle: ignored
        await loop.send_kpi_values(
            "mql",
            kpi_value_event("mql", long_ago, 1000.0),
            kpi_value_event("mql", today() - 2 * DAY, 10.0),
            kpi_value_event("mql", today() - DAY, 15.0),
            kpi_value_event("mql", today(), 5.0),
        )

        async def summed() -> Any:
            got = await loop.get(f"/v1/key-results/{kr['id']}")
            return got if got["current"] == 30.0 else None

        got = await wait_until(summed, what="the window's sum")
        assert got["raw_progress"] == pytest.approx(0.3)

    async def test_other_tenants_and_unlinked_krs_do_not_move(self, loop: Loop) -> None:
        await loop.kpi("nps")
        kr = await setup_kr(loop, "nps")
        plain = await loop.kr(kr["objective_id"], title="Not linked")
        await loop.send_kpi_values(
            "nps", kpi_value_event("nps", today(), 99.0, tenant="globex"), tenant="globex"
        )
        await loop.send_kpi_values("nps", kpi_value_event("nps", today(), 20.0))

        async def moved() -> Any:
            return (await loop.get(f"/v1/key-results/{kr['id']}"))["current"] == 20.0

        await wait_until(moved, what="acme's value")
        assert (await loop.get(f"/v1/key-results/{plain['id']}"))["current"] is None
        assert [e["value"] for e in await kpi_check_ins(loop, kr["id"])] == [20.0]

    async def test_a_guardrail_removal_on_kpi_values_is_skipped_not_dead_lettered(
        self, loop: Loop
    ) -> None:
        """metrics' `lodestar.kpi.guardrail.removed.v1` shares `kpi.values` (and the KPI's
        partition): goals passes over it and goes on with the values after it."""
        await loop.kpi("nps")
        kr = await setup_kr(loop, "nps")
        data = KpiGuardrailRemovedV1(kpi="nps", key_result_id="kr-0", removed_at=now())
        removal = new_event(
            type=KPI_GUARDRAIL_REMOVED_V1, source="lodestar/metrics", tenant="acme",
            subject="nps", data=data,
        ).to_json()  # fmt: skip
        # The value after it, in the same partition, is the sentinel: goals got past the removal.
        await loop.send_kpi_values("nps", removal, kpi_value_event("nps", today(), 20.0))

        async def moved() -> Any:
            return (await loop.get(f"/v1/key-results/{kr['id']}"))["current"] == 20.0

        await wait_until(moved, what="the value after the removal")
        dlq = loop.topics.dlq_for(loop.topics.name(loop.topics.kpi_values))
        consumer = new_consumer(loop.bootstrap, dlq, group_id=None)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(dlq) or set()
            assert partitions, f"{dlq} exists (goals creates the DLQ of what it consumes)"
            ends = await consumer.end_offsets([TopicPartition(dlq, p) for p in partitions])
        finally:
            await consumer.stop()
        assert sum(ends.values()) == 0, f"dead-lettered: {ends}"
        assert [e["value"] for e in await kpi_check_ins(loop, kr["id"])] == [20.0]


class TestGraduation:
    async def test_met_periods_in_a_row_graduate_the_kr(self, loop_db: Loop) -> None:
        loop = loop_db
        await loop.kpi("uptime", period="day")
        kr = await setup_kr(
            loop, "uptime", kind="keep_above", start=None, target=99.5, kpi_aggregation="last"
        )
        async with TopicReader(loop.bootstrap, loop.topics.name(loop.topics.okr_events)) as okr:
            # met, missed, met, met: the miss breaks the streak
            await loop.send_kpi_values(
                "uptime",
                kpi_value_event("uptime", today() - 4 * DAY, 99.7),
                kpi_value_event("uptime", today() - 3 * DAY, 99.0),
                kpi_value_event("uptime", today() - 2 * DAY, 99.8),
                kpi_value_event("uptime", today() - DAY, 99.9),
            )

            async def counted() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got if got["periods_met"] == 2 else None

            got = await wait_until(counted, what="two met periods")
            assert got["state"] == "open"
            assert got["status"] == "on_track"

            # The missed day is corrected late: now four in a row → graduated (default 3).
            await loop.send_kpi_values("uptime", kpi_value_event("uptime", today() - 3 * DAY, 99.6))

            async def graduated() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got if got["state"] == "graduated" else None

            got = await wait_until(graduated, what="the graduation")
            assert got["status"] == "achieved"
            assert got["score"] == 1.0
            assert got["progress"] == 1.0
            assert got["periods_met"] == 4
            assert got["graduated_at"] is not None

            records = await okr.wait_for(
                lambda rs: bool(events_of(rs, "lodestar.kr.graduated.v1", kr["id"])),
                what="lodestar.kr.graduated.v1",
            )
            # The key result's events share its partition, in the order they were written:
            # a graduation at two met periods would be read before this one, and say 2.
            [event] = events_of(records, "lodestar.kr.graduated.v1", kr["id"])
            assert event["tenant"] == "acme"
            assert event["data"] == {
                "key_result_id": kr["id"],
                "kpi": "uptime",
                "kind": "keep_above",
                "target": 99.5,
                "bound_low": None,
                "bound_high": None,
                "periods_met": 4,
                "direction": "higher",
                "objective_id": kr["objective_id"],
                "cycle_id": kr["cycle_id"],
                "graduated_at": event["data"]["graduated_at"],
                "aggregation": "last",
                "kpi_period": "day",
                "window_start": event["data"]["window_start"],
                "window_end": event["data"]["window_end"],
                "start": None,
                # `last` is judged per period already: nothing is spread.
                "window_periods": None,
                "period_target": 99.5,
                "period_bound_low": None,
                "period_bound_high": None,
                "period_start_value": None,
            }
            assert event["data"]["graduated_at"] is not None

            # Closed: no more KPI values, no check-ins, no edits.
            other = await loop.objective((await loop.cycle("sentinel"))["id"])
            sentinel = await loop.linked_kr(
                other["id"], "uptime", kind="keep_above", start=None, target=95.0
            )
            await loop.send_kpi_values(
                "uptime",
                kpi_value_event("uptime", today(), 90.0),
                # The sentinel, after it in the same partition: another KR of the KPI moves.
                kpi_value_event("uptime", today(), 91.0),
            )
            refused = await loop.client.post(
                f"/v1/key-results/{kr['id']}/check-ins", json={"confidence": 0.2}
            )
            assert refused.status_code == 409
            assert refused.json()["type"].endswith("/key-result-graduated")
            await okr.wait_for(
                lambda rs: any(
                    e["data"]["current"] == 91.0
                    for e in events_of(rs, "lodestar.kr.progress.v1", sentinel["id"])
                ),
                what="the sentinel KR's progress",
            )
            await okr.drain()
            after = await loop.get(f"/v1/key-results/{kr['id']}")
            assert after["current"] == got["current"]
            assert after["status"] == "achieved"
            assert len(events_of(okr.records, "lodestar.kr.graduated.v1", kr["id"])) == 1

    async def test_a_per_kr_override_of_the_periods_needed(self, loop: Loop) -> None:
        await loop.kpi("nps")
        kr = await setup_kr(loop, "nps", start=0.0, target=50.0, graduation_periods=1)
        await loop.send_kpi_values("nps", kpi_value_event("nps", today() - DAY, 55.0))

        async def graduated() -> Any:
            got = await loop.get(f"/v1/key-results/{kr['id']}")
            return got if got["state"] == "graduated" else None

        got = await wait_until(graduated, what="the graduation after one period")
        assert got["graduation_periods"] == 1
        assert got["raw_progress"] == pytest.approx(1.1)


class TestLink:
    async def test_an_unknown_kpi_is_refused(self, loop: Loop) -> None:
        cycle = await loop.cycle()
        objective = await loop.objective(cycle["id"])
        refused = await loop.client.post(
            f"/v1/objectives/{objective['id']}/key-results",
            json={"title": "x", "kind": "increase", "start": 0.0, "target": 1.0, "kpi": "nope"},
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Unknown KPI"
        listed = await loop.get(f"/v1/objectives/{objective['id']}/key-results")
        assert listed == []

    async def test_link_and_unlink_an_existing_kr(self, loop: Loop) -> None:
        await loop.kpi("nps")
        cycle = await loop.cycle()
        objective = await loop.objective(cycle["id"])
        kr = await loop.kr(objective["id"])
        assert (
            await loop.client.patch(f"/v1/key-results/{kr['id']}", json={"kpi": "nope"})
        ).status_code == 422
        linked = await loop.ok(
            await loop.client.patch(
                f"/v1/key-results/{kr['id']}", json={"kpi": "nps", "kpi_aggregation": "max"}
            )
        )
        assert (linked["kpi"], linked["kpi_aggregation"], linked["kpi_period"]) == (
            "nps",
            "max",
            "day",
        )
        # Its value comes from the KPI now: a manual value is refused, a note is not.
        refused = await loop.client.post(
            f"/v1/key-results/{kr['id']}/check-ins", json={"value": 3.0}
        )
        assert refused.status_code == 409
        await loop.check_in(kr["id"], confidence=0.6, note="looks fine")
        unlinked = await loop.ok(
            await loop.client.patch(f"/v1/key-results/{kr['id']}", json={"kpi": None})
        )
        assert unlinked["kpi"] is None
        assert unlinked["kpi_aggregation"] is None
        await loop.check_in(kr["id"], value=3.0)

    async def test_a_milestone_cannot_be_linked(self, loop: Loop) -> None:
        await loop.kpi("nps")
        cycle = await loop.cycle()
        objective = await loop.objective(cycle["id"])
        refused = await loop.client.post(
            f"/v1/objectives/{objective['id']}/key-results",
            json={"title": "Launch", "kind": "milestone", "kpi": "nps"},
        )
        assert refused.status_code == 422

    async def test_metrics_unreachable_is_503(self, goals: Goals) -> None:
        cycle = await goals.cycle()
        objective = await goals.objective(cycle["id"])
        refused = await goals.client.post(
            f"/v1/objectives/{objective['id']}/key-results",
            json={"title": "x", "kind": "increase", "start": 0.0, "target": 1.0, "kpi": "nps"},
        )
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("/metrics-unavailable")


class TestPromote:
    async def test_promote_a_kpi_into_a_linked_kr(self, loop_db: Loop) -> None:
        loop = loop_db
        await loop.kpi("churn", period="day", direction="lower", unit="%")
        cycle = await loop.cycle()
        body = {
            "kpi": "churn",
            "cycle_id": cycle["id"],
            "target": 3.0,
            "objective": {"title": "Keep customers", "owner": "ada", "level": "team"},
        }
        early = await loop.client.post("/v1/key-results/promote", json=body)
        assert early.status_code == 422
        assert "no value yet" in early.json()["detail"]

        sent = await loop.metrics.post(
            "/v1/measurements", json={"kpi": "churn", "value": 4.2, "time": now_iso()}
        )
        assert sent.status_code == 202, sent.text

        async def has_value() -> Any:
            got = (await loop.metrics.get("/v1/kpis/churn/value")).json()
            return got["value"] is not None

        await wait_until(has_value, what="metrics to store the measurement")
        kr = await loop.ok(await loop.client.post("/v1/key-results/promote", json=body), 201)
        assert kr["kind"] == "decrease"
        assert kr["start"] == 4.2
        assert kr["current"] == 4.2
        assert kr["target"] == 3.0
        assert kr["unit"] == "%"
        assert kr["kpi"] == "churn"
        assert kr["promoted_from_kpi"] == "churn"
        assert kr["promoted_start"] == 4.2
        assert kr["promoted_at"] is not None
        assert kr["progress"] == 0.0
        objective = await loop.get(f"/v1/objectives/{kr['objective_id']}")
        assert objective["title"] == "Keep customers"
        assert objective["cycle_id"] == cycle["id"]

        # It follows the KPI from then on: metrics' next value reaches it through kpi.values.
        sent = await loop.metrics.post(
            "/v1/measurements", json={"kpi": "churn", "value": 3.6, "time": now_iso()}
        )
        assert sent.status_code == 202

        async def followed() -> Any:
            got = await loop.get(f"/v1/key-results/{kr['id']}")
            return got if got["current"] == 3.6 else None

        got = await wait_until(followed, what="the promoted KR to follow the KPI")
        assert got["raw_progress"] == pytest.approx(0.5)

    async def test_promote_under_an_existing_objective_and_refusals(self, loop: Loop) -> None:
        await loop.kpi("mql", direction="higher")
        await loop.metrics.post(
            "/v1/measurements", json={"kpi": "mql", "value": 40.0, "time": now_iso()}
        )

        async def has_value() -> Any:
            return (await loop.metrics.get("/v1/kpis/mql/value")).json()["value"] is not None

        await wait_until(has_value, what="metrics to store the measurement")
        cycle = await loop.cycle()
        objective = await loop.objective(cycle["id"])
        base = {"kpi": "mql", "cycle_id": cycle["id"], "objective_id": objective["id"]}
        kr = await loop.ok(
            await loop.client.post("/v1/key-results/promote", json={**base, "target": 100.0}),
            201,
        )
        assert (kr["kind"], kr["start"], kr["objective_id"]) == ("increase", 40.0, objective["id"])
        for bad, why in [
            ({**base, "target": 10.0}, "below the current value for an increase"),
            ({**base, "kpi": "nope", "target": 100.0}, "unknown KPI"),
            ({**base, "objective": {"title": "t", "owner": "o"}, "target": 100.0}, "both"),
        ]:
            got = await loop.client.post("/v1/key-results/promote", json=bad)
            assert got.status_code == 422, why


class TestTimer:
    async def test_a_quiet_kpi_makes_its_kr_stale(
        self, kafka_bootstrap: str, topics: Any, databases: Any, admin_key: str
    ) -> None:
        from tests.integration.goals.conftest import loop_apps

        async with loop_apps(
            kafka_bootstrap,
            topics,
            await databases.new(),
            await databases.new(),
            admin_key,
            status_timer_interval_s=0.2,
        ) as loop:
            await loop.kpi("nps", cadence="PT2S")
            kr = await setup_kr(loop, "nps", start=0.0, target=100.0)
            async with TopicReader(loop.bootstrap, topics.name(topics.okr_events)) as okr:
                await loop.send_kpi_values("nps", kpi_value_event("nps", today(), 45.0))

                async def on_track() -> Any:
                    got = await loop.get(f"/v1/key-results/{kr['id']}")
                    return got["status"] == "on_track"

                await wait_until(on_track, what="on track with fresh data")

                async def stale() -> Any:
                    got = await loop.get(f"/v1/key-results/{kr['id']}")
                    return got["status"] == "stale"

                await wait_until(stale, timeout_s=10, what="the timer to mark it stale")
                records = await okr.wait_for(
                    lambda rs: any(
                        e["data"]["status"] == "stale"
                        for e in events_of(rs, "lodestar.kr.progress.v1", kr["id"])
                    ),
                    what="the stale event",
                )
                [event] = [
                    e
                    for e in events_of(records, "lodestar.kr.progress.v1", kr["id"])
                    if e["data"]["status"] == "stale"
                ]
                assert event["data"]["previous_status"] == "on_track"
                assert event["data"]["source"] == "time"
