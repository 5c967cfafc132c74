"""A batch of `kpi.values` is handled set-based (SQLite and PostgreSQL): the batch's event
identities are recorded in one statement, several values of one KPI period in a batch leave
only the newest, and the KR moves once — one check-in, one progress event."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.goals.repository import kpi_links as link_repo
from services.goals.service import kpi_values
from services.goals.settings import GoalsSettings
from shared import inbox
from shared.events import KPI_VALUE_V1, CloudEvent, KpiValueV1, new_event, utcnow
from shared.inbox import first_delivery
from tests.integration.goals.conftest import Goals, Loop, today
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka

DAY = timedelta(days=1)


def payload(kpi: str, days_ago: int, value: float) -> KpiValueV1:
    start = today() - days_ago * DAY
    return KpiValueV1(
        kpi=kpi,
        period="day",
        period_start=start,
        period_end=start + DAY,
        aggregation="sum",
        value=value,
        count=1,
        last_value=value,
        last_at=min(start + DAY - timedelta(seconds=1), utcnow()),
        health="unknown",
    )


def event(tenant: str = "acme", id: str | None = None) -> CloudEvent:
    return new_event(
        type=KPI_VALUE_V1,
        source="lodestar/metrics",
        tenant=tenant,
        subject="nps",
        data=payload("nps", 0, 1.0),
        id=id,
    )


class TestFirstDeliveries:
    async def test_a_batch_records_each_identity_once(self, goals_db: Goals) -> None:
        db = goals_db.app.runtime.db
        a, b, c = event(), event(), event()
        same_id_elsewhere = event(tenant="globex", id=a.id)
        async with db.transaction() as session:
            assert await first_delivery(session, a)  # recorded one at a time, earlier
        async with db.transaction() as session:
            firsts = await inbox.first_deliveries(
                session, [b, a, b, c, same_id_elsewhere], utcnow()
            )
        assert firsts == [True, False, False, True, True]
        async with db.transaction() as session:
            again = await inbox.first_deliveries(session, [a, b, c, same_id_elsewhere], utcnow())
            assert again == [False, False, False, False]
            assert not await first_delivery(session, c)  # one record, either way of writing
        async with db.transaction() as session:
            assert await inbox.first_deliveries(session, [], utcnow()) == []


class TestCoalescedBatch:
    async def test_the_newest_value_of_each_period_moves_the_kr_once(self, loop_db: Loop) -> None:
        loop = loop_db
        await loop.kpi("mql", period="day", aggregation="sum")
        cycle = await loop.cycle(days_in=50, days_left=50)
        objective = await loop.objective(cycle["id"])
        kr = await loop.linked_kr(
            objective["id"], "mql", start=0.0, target=100.0, kpi_aggregation="sum"
        )
        runtime = loop.app.runtime
        settings = runtime.settings
        assert isinstance(settings, GoalsSettings)
        batch = [
            kpi_values.KpiValue("acme", payload("mql", 0, v))
            for v in (10.0, 20.0)  # superseded within the batch by today's 30
        ] + [
            kpi_values.KpiValue("acme", payload("mql", 1, 5.0)),
            kpi_values.KpiValue("acme", payload("mql", 0, 30.0)),
            kpi_values.KpiValue("acme", payload("mql", 1, 7.0)),
        ]
        async with TopicReader(loop.bootstrap, loop.topics.name(loop.topics.okr_events)) as okr:
            async with runtime.db.transaction() as session:
                assert await kpi_values.apply(session, settings, batch, utcnow()) == 1

            got = await loop.get(f"/v1/key-results/{kr['id']}")
            assert got["current"] == 37.0  # 30 + 7: replaced, never added up
            async with runtime.db.session() as session:
                stored = await link_repo.periods_of(session, [("acme", kr["id"])])
            assert [(r.value, r.start) for r in stored[kr["id"]]] == [
                (7.0, today() - DAY),
                (30.0, today()),
            ]
            page = await loop.get(f"/v1/key-results/{kr['id']}/check-ins", limit=100)
            [entry] = [c for c in page["items"] if c["source"] == "kpi"]
            assert entry["value"] == 37.0
            assert entry["note"].startswith("mql day from ")  # the last value of the KR: 7
            assert ": 7 (sum of 1)" in entry["note"]

            def from_kpi(records: list[Any]) -> list[dict[str, Any]]:
                events = [json.loads(r.value) for r in records]
                return [
                    e
                    for e in events
                    if e["type"] == "lodestar.kr.progress.v1"
                    and e["subject"] == kr["id"]
                    and e["data"]["source"] == "kpi"
                ]

            await okr.wait_for(lambda rs: bool(from_kpi(rs)), what="the KR's progress event")
            # Sentinel: a manual check-in's progress event, keyed by the same KR, comes after
            # any second KPI-driven one would have.
            await loop.check_in(kr["id"], confidence=0.5, note="sentinel")

            def manual(records: list[Any]) -> bool:
                return any(
                    e["type"] == "lodestar.kr.progress.v1"
                    and e["subject"] == kr["id"]
                    and e["data"]["source"] != "kpi"
                    for e in (json.loads(r.value) for r in records)
                )

            await okr.wait_for(manual, what="the sentinel check-in's progress event")
            await okr.drain()
            assert [e["data"]["current"] for e in from_kpi(okr.records)] == [37.0]

    async def test_duplicate_rows_of_one_period_in_one_statement(self, loop_db: Loop) -> None:
        """The upsert itself: the last of two rows for one (KR, period) wins, on both
        databases (PostgreSQL refuses to update one row twice in one statement)."""
        loop = loop_db
        await loop.kpi("nps")
        cycle = await loop.cycle()
        objective = await loop.objective(cycle["id"])
        kr = await loop.linked_kr(objective["id"], "nps")
        now = utcnow()

        def row(value: float) -> dict[str, Any]:
            return link_repo.period_row(
                tenant="acme",
                kr_id=kr["id"],
                period_start=today(),
                period_end=today() + DAY,
                value=value,
                count=1,
                last_value=value,
                last_at=now,
                revision=0,
                now=now,
            )

        db = loop.app.runtime.db
        async with db.transaction() as session:
            await link_repo.store_periods(session, [row(1.0), row(2.0)])
        async with db.transaction() as session:
            await link_repo.store_periods(session, [row(3.0), row(4.0)])

        async with db.session() as session:
            stored = await link_repo.periods_of(session, [("acme", kr["id"])])
        assert [r.value for r in stored[kr["id"]]] == [4.0]


class TestBatchAcrossTenantsAndCycles:
    async def test_each_kr_moves_by_its_own_tenants_values(self, loop_db: Loop) -> None:
        """One batch carries values of two tenants (one KPI key in both) for KRs in three
        cycles: each KR takes its own tenant's value, once, and each objective its KRs'
        mean; the progress events carry the KR's tenant."""
        loop = loop_db
        runtime = loop.app.runtime
        settings = runtime.settings
        assert isinstance(settings, GoalsSettings)
        async with loop.other_tenant("globex") as globex:
            krs: dict[str, tuple[str, dict[str, Any]]] = {}  # name → (tenant, KR)
            objectives: dict[str, dict[str, Any]] = {}
            for side in (loop, globex):
                await side.kpi("mql", period="day", aggregation="sum")
            await loop.kpi("nps", period="day", aggregation="sum")
            plan = [  # (tenant, side, cycle, KR name, KPI, start, target)
                ("acme", loop, "2026-Q4", "a1", "mql", 0.0, 100.0),
                ("acme", loop, "2026-Q4", "a2", "nps", 0.0, 10.0),
                ("acme", loop, "2026-H2", "b1", "mql", 20.0, 120.0),
                ("globex", globex, "2026-Q4", "g1", "mql", 0.0, 100.0),
            ]
            cycles: dict[tuple[str, str], str] = {}
            for tenant, side, cycle_name, name, kpi, start, target in plan:
                if (tenant, cycle_name) not in cycles:
                    active = cycle_name == "2026-Q4"  # a planned cycle follows its KPIs too
                    cycle = await side.cycle(cycle_name, active=active)
                    objective = await side.objective(cycle["id"], title=cycle_name)
                    cycles[(tenant, cycle_name)] = objective["id"]
                    objectives[f"{tenant}/{cycle_name}"] = objective
                kr = await side.linked_kr(
                    cycles[(tenant, cycle_name)],
                    kpi,
                    start=start,
                    target=target,
                    kpi_aggregation="sum",
                )
                krs[name] = (tenant, kr)

            batch = [
                kpi_values.KpiValue("acme", payload("mql", 0, 40.0)),
                kpi_values.KpiValue("globex", payload("mql", 0, 80.0)),
                kpi_values.KpiValue("acme", payload("nps", 0, 5.0)),
            ]
            okr_topic = loop.topics.name(loop.topics.okr_events)
            async with TopicReader(loop.bootstrap, okr_topic) as okr:
                async with runtime.db.transaction() as session:
                    assert await kpi_values.apply(session, settings, batch, utcnow()) == 4

                # (current, progress) each KR must show: its tenant's value, from the spec
                want = {"a1": (40.0, 0.4), "a2": (5.0, 0.5), "b1": (40.0, 0.2), "g1": (80.0, 0.8)}
                sides = {"acme": loop, "globex": globex}
                for name, (tenant, kr) in krs.items():
                    got = await sides[tenant].get(f"/v1/key-results/{kr['id']}")
                    assert (got["current"], got["progress"]) == pytest.approx(want[name]), name
                    page = await sides[tenant].get(f"/v1/key-results/{kr['id']}/check-ins")
                    entries = [c for c in page["items"] if c["source"] == "kpi"]
                    assert [c["value"] for c in entries] == [want[name][0]], name
                mean = {"acme/2026-Q4": 0.45, "acme/2026-H2": 0.2, "globex/2026-Q4": 0.8}
                for key, objective in objectives.items():
                    tenant = key.split("/")[0]
                    got = await sides[tenant].get(f"/v1/objectives/{objective['id']}")
                    assert got["progress"] == pytest.approx(mean[key]), key

                def progress(records: list[Any]) -> dict[str, tuple[str, float]]:
                    events = [json.loads(r.value) for r in records]
                    return {
                        e["subject"]: (e["tenant"], e["data"]["current"])
                        for e in events
                        if e["type"] == "lodestar.kr.progress.v1" and e["data"]["source"] == "kpi"
                    }

                await okr.wait_for(
                    lambda rs: len(progress(rs)) == len(krs), what="each KR's progress event"
                )
                assert progress(okr.records) == {
                    kr["id"]: (tenant, want[name][0]) for name, (tenant, kr) in krs.items()
                }
