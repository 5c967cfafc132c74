"""An objective's numbers stay those of a pass over all its KRs while batches of KPI values move
them by the few KRs they touch (SQLite and PostgreSQL): through check-ins, weight edits, new KRs
and a re-parenting in between, its progress and status are the weighted mean and the weakest
status of its KRs as the API shows them, computed here from the spec, and a full refresh of
the cycle finds nothing left to move."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from services.goals.service import kpi_values
from services.goals.settings import GoalsSettings
from shared.events import utcnow
from tests.integration.goals.conftest import Loop
from tests.integration.goals.test_kpi_batch import payload

pytestmark = pytest.mark.kafka

KPIS = ("k0", "k1", "k2", "k3")
WEAKEST_FIRST = ("off_track", "stale", "at_risk", "on_track", "achieved")


def clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


def expected(krs: list[dict[str, Any]]) -> tuple[float, str]:
    """The objective's own progress and status from its KRs, as the README defines them: the
    mean of the clamped progress weighted by each KR's weight (exact sums, scaled by the
    largest weight), and the weakest judged status (achieved only when every KR is)."""
    largest = max(kr["weight"] for kr in krs)
    scaled = [kr["weight"] / largest for kr in krs]
    terms = math.fsum(clamp01(kr["progress"]) * w for kr, w in zip(krs, scaled, strict=True))
    progress = clamp01(terms / math.fsum(scaled))
    judged = [kr["status"] for kr in krs if kr["status"] != "not_started"]
    if not judged:
        return progress, "not_started"
    weakest = min(judged, key=WEAKEST_FIRST.index)
    if weakest == "achieved" and len(judged) < len(krs):
        return progress, "on_track"
    return progress, weakest


class Objective:
    """One objective of many linked KRs (and a manual one) under a parent, and what a user
    does to it: KPI values in batches, check-ins, weight edits, new KRs, re-parenting."""

    def __init__(self, loop: Loop, rng: random.Random) -> None:
        self.loop, self.rng = loop, rng
        settings = loop.app.runtime.settings
        assert isinstance(settings, GoalsSettings)
        self.settings = settings

    async def create(self) -> str:
        loop, rng = self.loop, self.rng
        for key in KPIS:
            await loop.kpi(key, period="day", aggregation="last")
        cycle = await loop.cycle(days_in=30, days_left=60)
        parent = await loop.objective(cycle["id"], title="Parent")
        self.id = (await loop.objective(cycle["id"], title="KRs", parent_id=parent["id"]))["id"]
        self.linked = [
            await loop.linked_kr(
                self.id,
                KPIS[i % len(KPIS)],
                start=rng.choice([0.0, 0.15]),  # some KRs fall below their start
                target=rng.choice([0.3, 1.0, 7.0, 100.0]),
                weight=rng.choice([0.1, 0.2, 0.7, 1.0, 3.0]),
                kpi_aggregation="last",
            )
            for i in range(12)
        ]
        self.manual = await loop.kr(self.id, start=0.0, target=10.0, weight=0.3)
        return str(cycle["id"])

    async def batch(self) -> None:
        rng = self.rng
        values = [
            kpi_values.KpiValue(
                "acme",
                payload(rng.choice(KPIS), rng.randint(0, 5), rng.choice([0.1, 0.2, 0.3, 5.0])),
            )
            for _ in range(rng.randint(1, 6))
        ]
        async with self.loop.app.runtime.db.transaction() as session:
            await kpi_values.apply(session, self.settings, values, utcnow())

    async def checked(self) -> dict[str, Any]:
        """The objective as the API shows it, its numbers checked against its KRs'."""
        got: dict[str, Any] = await self.loop.get(f"/v1/objectives/{self.id}")
        assert (got["progress"], got["status"]) == expected(got["key_results"])
        return got

    async def check_in(self) -> None:
        await self.loop.check_in(self.manual["id"], value=self.rng.uniform(0, 12))

    async def reweigh(self) -> None:
        """A new weight on a KR that has not graduated (a graduated one is closed)."""
        got = await self.loop.get(f"/v1/objectives/{self.id}")
        kr = self.rng.choice([k for k in got["key_results"] if k["graduated_at"] is None])
        body = {"weight": self.rng.choice([0.05, 0.5, 9.0])}
        await self.loop.ok(
            await self.loop.app.client.patch(f"/v1/key-results/{kr['id']}", json=body)
        )

    async def add_kr(self) -> None:
        kpi = self.rng.choice(KPIS)
        await self.loop.linked_kr(self.id, kpi, start=0.0, target=1.0, kpi_aggregation="last")

    async def realign(self) -> None:
        body = {"parent_id": None}
        await self.loop.ok(await self.loop.app.client.patch(f"/v1/objectives/{self.id}", json=body))


async def test_batches_keep_an_objective_as_a_full_pass_would(loop_db: Loop) -> None:
    objective = Objective(loop_db, random.Random(20261204))
    cycle_id = await objective.create()
    writes = [objective.check_in, objective.reweigh, objective.add_kr, objective.realign]
    progresses, statuses = set(), set()
    for step in range(24):
        await objective.batch()
        got = await objective.checked()
        progresses.add(got["progress"])
        statuses.update(kr["status"] for kr in got["key_results"])
        if step % 3 == 2:
            await writes[(step // 3) % len(writes)]()
            await objective.checked()

    assert len(progresses) > 5, "the batches moved the objective"
    assert {"achieved", "off_track"} <= statuses, "KRs moved between statuses"
    assert any(kr["graduated_at"] for kr in got["key_results"]), "a KR graduated"
    before = await objective.checked()
    await loop_db.ok(await loop_db.app.client.post(f"/v1/cycles/{cycle_id}/refresh"))
    after = await objective.checked()
    assert after["progress"] == before["progress"]
