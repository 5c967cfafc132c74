"""Corrections reach key results: a restated or retracted measurement changes its period's
aggregate in metrics, and the linked KR follows (on the real broker, goals and metrics
in-process, each on SQLite and PostgreSQL). A retraction lowers the period's count: the
`kpi.value` that says so must still replace the one before it (its `revision` is higher)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.goals.conftest import Loop, iso, today
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka


async def follows(loop: Loop, kr_id: str, current: float | None) -> dict[str, Any]:
    async def check() -> Any:
        got = await loop.get(f"/v1/key-results/{kr_id}")
        return got if got["current"] == current else None

    result: dict[str, Any] = await wait_until(check, what=f"the KR at {current}")
    return result


async def test_a_restated_and_a_retracted_measurement_move_the_linked_kr(loop: Loop) -> None:
    await loop.kpi("mql", period="day", aggregation="sum")
    cycle = await loop.cycle(days_in=50, days_left=50)
    objective = await loop.objective(cycle["id"])
    kr = await loop.linked_kr(
        objective["id"], "mql", start=0.0, target=100.0, kpi_aggregation="sum"
    )
    at = iso(today() - timedelta(hours=12))  # yesterday noon: in the KR's window, past

    async def measure(body: Any, path: str = "/v1/measurements") -> None:
        answer = await loop.metrics.post(path, json=body)
        assert answer.status_code == 202, answer.text

    await measure(
        [
            {"kpi": "mql", "value": 30.0, "time": at, "id": "deal-1"},
            {"kpi": "mql", "value": 20.0, "time": at, "id": "deal-2"},
        ]
    )
    got = await follows(loop, kr["id"], 50.0)
    assert got["progress"] == pytest.approx(0.5)

    # deal-1 restated: 30 was wrong, it is 10.
    await measure({"kpi": "mql", "value": 10.0, "time": at, "id": "deal-1", "revision": 1})
    got = await follows(loop, kr["id"], 30.0)
    assert got["progress"] == pytest.approx(0.3)

    # deal-2 withdrawn: the period's count falls from 2 to 1, and the KR still follows.
    await measure({"kpi": "mql", "id": "deal-2"}, "/v1/measurements/retractions")
    got = await follows(loop, kr["id"], 10.0)
    assert got["progress"] == pytest.approx(0.1)
    series = await loop.metrics.get(
        "/v1/kpis/mql/series",
        params={"start": iso(today() - timedelta(days=1)), "end": iso(today())},
    )
    assert [(p["value"], p["count"]) for p in series.json()["points"]] == [(10.0, 1)]


async def test_a_period_emptied_by_retractions_leaves_the_kr_window(loop: Loop) -> None:
    """Every measurement of a day retracted: metrics publishes the day with count 0 and
    value 0; the KR's `min` over its window is then the other day's, not 0. A KR linked
    afterwards backfills the same from the series (the emptied day a null point). Both days
    emptied: the KRs have no value."""
    await loop.kpi("mql", period="day", aggregation="sum")
    cycle = await loop.cycle(days_in=50, days_left=50)
    objective = await loop.objective(cycle["id"])
    body = {"start": 0.0, "target": 100.0, "kpi_aggregation": "min"}
    kr = await loop.linked_kr(objective["id"], "mql", **body)
    before, yesterday = today() - timedelta(hours=36), today() - timedelta(hours=12)

    async def measure(body: Any, path: str = "/v1/measurements") -> None:
        answer = await loop.metrics.post(path, json=body)
        assert answer.status_code == 202, answer.text

    await measure(
        [
            {"kpi": "mql", "value": 40.0, "time": iso(before), "id": "deal-1"},
            {"kpi": "mql", "value": 20.0, "time": iso(yesterday), "id": "deal-2"},
        ]
    )
    await follows(loop, kr["id"], 20.0)

    await measure({"kpi": "mql", "id": "deal-2"}, "/v1/measurements/retractions")
    got = await follows(loop, kr["id"], 40.0)
    assert got["progress"] == pytest.approx(0.4)

    later = await loop.linked_kr(objective["id"], "mql", **body)
    got = await follows(loop, later["id"], 40.0)
    assert got["progress"] == pytest.approx(0.4)

    # The other day retracted too: no data in the window, no value (as before the first).
    await measure({"kpi": "mql", "id": "deal-1"}, "/v1/measurements/retractions")
    for linked in (kr, later):
        got = await follows(loop, linked["id"], None)
        assert (got["progress"], got["status"]) == (0.0, "not_started")
