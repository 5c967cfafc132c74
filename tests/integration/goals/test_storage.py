"""The storage-heavy paths on both backends (SQLite and PostgreSQL): keyset pages over every
sort, timestamps round-tripping in UTC, the close of a cycle, tenant filtering."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.integration.goals.conftest import Goals

pytestmark = pytest.mark.kafka


async def test_objective_pages_cover_every_row_once_in_every_sort(goals_db: Goals) -> None:
    cycle = await goals_db.cycle()
    progress_of = {}
    for i, value in enumerate([50.0, 10.0, 50.0, 90.0, 0.0, 30.0, 50.0]):
        o = await goals_db.objective(cycle["id"], f"O{i}")
        kr = await goals_db.kr(o["id"])
        await goals_db.check_in(kr["id"], value=value)
        progress_of[f"O{i}"] = value / 100
    for sort in ("created_at", "-created_at", "title", "progress", "-progress"):
        seen: list[dict[str, object]] = []
        cursor = None
        while True:
            params = {"cycle_id": cycle["id"], "sort": sort, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = await goals_db.get("/v1/objectives", **params)
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        titles = [str(o["title"]) for o in seen]
        assert sorted(titles) == sorted(progress_of), f"{sort}: {titles}"
        if sort.endswith("progress"):
            values = [progress_of[t] for t in titles]
            assert values == sorted(values, reverse=sort.startswith("-")), sort
        if sort == "title":
            assert titles == sorted(titles)
        if sort == "-created_at":
            assert titles == [f"O{i}" for i in reversed(range(7))]


async def test_timestamps_round_trip_in_utc(goals_db: Goals) -> None:
    body = {
        "name": "Tokyo Q",
        "starts_at": "2026-10-01T09:00:00+09:00",
        "ends_at": "2026-12-31T09:00:00+09:00",
    }
    made = await goals_db.ok(await goals_db.client.post("/v1/cycles", json=body), 201)
    got = await goals_db.get(f"/v1/cycles/{made['id']}")
    assert datetime.fromisoformat(got["starts_at"]) == datetime.fromisoformat(body["starts_at"])
    assert got["starts_at"].endswith("Z") or got["starts_at"].endswith("+00:00")


async def test_close_scores_and_isolation(goals_db: Goals) -> None:
    cycle = await goals_db.cycle()
    parent = await goals_db.objective(cycle["id"], "Parent", level="company")
    child = await goals_db.objective(cycle["id"], "Child", parent_id=parent["id"])
    kr = await goals_db.kr(
        child["id"], kind="keep_between", start=None, target=None, bound_low=1.0, bound_high=2.0
    )
    await goals_db.check_in(kr["id"], value=2.0)  # the upper bound itself holds
    history = await goals_db.get(f"/v1/key-results/{kr['id']}/check-ins")
    assert history["items"][0]["status"] == "on_track"
    await goals_db.ok(await goals_db.client.post(f"/v1/cycles/{cycle['id']}/close"))
    child_now = await goals_db.get(f"/v1/objectives/{child['id']}")
    assert child_now["score"] == 1.0
    assert child_now["key_results"][0]["status"] == "achieved"
    parent_now = await goals_db.get(f"/v1/objectives/{parent['id']}")
    assert parent_now["rollup_status"] == "achieved"
    async with await goals_db.other_tenant_client() as other:
        assert (await other.get(f"/v1/objectives/{child['id']}")).status_code == 404
        listed = await other.get("/v1/objectives", params={"cycle_id": cycle["id"]})
        assert listed.json()["items"] == []


async def test_concurrent_check_ins_leave_a_consistent_objective(goals_db: Goals) -> None:
    """Check-ins on different KRs of one objective, at once: the objective's progress is the
    mean of the values that were stored, not of a stale snapshot (writes in a cycle are
    serialised by locking the cycle's row on PostgreSQL, by the writer lock on SQLite)."""
    cycle = await goals_db.cycle()
    objective = await goals_db.objective(cycle["id"])
    krs = [await goals_db.kr(objective["id"], title=f"KR{i}") for i in range(4)]
    await asyncio.gather(
        *(goals_db.check_in(kr["id"], value=10.0 * (i + 1)) for i, kr in enumerate(krs))
    )
    detail = await goals_db.get(f"/v1/objectives/{objective['id']}")
    assert [k["current"] for k in detail["key_results"]] == [10.0, 20.0, 30.0, 40.0]
    assert detail["progress"] == pytest.approx(0.25)
