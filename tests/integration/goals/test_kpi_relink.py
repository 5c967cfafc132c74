"""A KR's link changed through the API takes effect on the very next `kpi.value`: the batch
path re-reads who follows a KPI under the cycle lock on every batch, and keeps nothing between
batches that a link change would leave stale."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.goals.conftest import Loop, kpi_value_event, today
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka


async def current_of(loop: Loop, kr_id: str) -> Any:
    return (await loop.get(f"/v1/key-results/{kr_id}"))["current"]


async def follows(loop: Loop, kr_id: str, value: float) -> None:
    async def moved() -> bool:
        return bool(await current_of(loop, kr_id) == value)

    await wait_until(moved, what=f"the KR to take {value}")


async def kpi_values_of(loop: Loop, kr_id: str) -> list[float]:
    page = await loop.get(f"/v1/key-results/{kr_id}/check-ins", limit=100)
    return [c["value"] for c in page["items"] if c["source"] == "kpi"]


async def test_a_relinked_or_unlinked_kr_stops_following_on_the_next_value(loop: Loop) -> None:
    await loop.kpi("nps", period="day")
    await loop.kpi("csat", period="day")
    cycle = await loop.cycle(days_in=50, days_left=50)
    objective = await loop.objective(cycle["id"])
    moving = await loop.linked_kr(objective["id"], "nps", start=0.0, target=100.0)
    # Each follows its KPI throughout: its move is the sentinel that a value was applied.
    witness = await loop.linked_kr(objective["id"], "nps", start=0.0, target=100.0)
    csat_witness = await loop.linked_kr(objective["id"], "csat", start=0.0, target=100.0)

    await loop.send_kpi_values("nps", kpi_value_event("nps", today(), 10.0))
    await follows(loop, moving["id"], 10.0)
    await follows(loop, witness["id"], 10.0)

    relinked = await loop.ok(
        await loop.client.patch(f"/v1/key-results/{moving['id']}", json={"kpi": "csat"})
    )
    assert relinked["kpi"] == "csat"
    before = await current_of(loop, moving["id"])

    # The next value of nps moves the witness, not the KR that follows csat now...
    await loop.send_kpi_values("nps", kpi_value_event("nps", today(), 20.0))
    await follows(loop, witness["id"], 20.0)
    assert await current_of(loop, moving["id"]) == before
    assert await kpi_values_of(loop, moving["id"]) == [10.0]
    # ...and the next value of csat moves it.
    await loop.send_kpi_values("csat", kpi_value_event("csat", today(), 70.0))
    await follows(loop, moving["id"], 70.0)
    await follows(loop, csat_witness["id"], 70.0)
    assert await kpi_values_of(loop, moving["id"]) == [70.0, 10.0]

    unlinked = await loop.ok(
        await loop.client.patch(f"/v1/key-results/{moving['id']}", json={"kpi": None})
    )
    assert unlinked["kpi"] is None
    # Unlinked, it moves with neither KPI.
    await loop.send_kpi_values("csat", kpi_value_event("csat", today(), 80.0))
    await loop.send_kpi_values("nps", kpi_value_event("nps", today(), 30.0))
    await follows(loop, csat_witness["id"], 80.0)
    await follows(loop, witness["id"], 30.0)
    assert await current_of(loop, moving["id"]) == 70.0
    assert await kpi_values_of(loop, moving["id"]) == [70.0, 10.0]
    assert await kpi_values_of(loop, witness["id"]) == [30.0, 20.0, 10.0]
