"""Key results whose numbers could make progress non-finite, or whose text a column refuses,
are answered 422 on SQLite and PostgreSQL, at creation and at update; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.goals.conftest import Goals

pytestmark = pytest.mark.kafka


async def post_raw(goals: Goals, path: str, body: Any, method: str = "POST") -> Any:
    # json.dumps, not httpx's json=: NaN and lone surrogates must reach the server as sent.
    return await goals.client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )


class TestKeyResults:
    async def test_numbers_that_would_make_progress_non_finite_are_refused(
        self, goals_db: Goals
    ) -> None:
        cycle = await goals_db.cycle()
        objective = await goals_db.objective(cycle["id"])
        path = f"/v1/objectives/{objective['id']}/key-results"
        base = {"title": "T", "kind": "increase", "start": 0.0, "target": 100.0}
        bad: list[dict[str, Any]] = [
            {**base, "target": 5e-324},  # target - start subnormal: 1 / it overflows
            {**base, "target": 1e-10},
            {**base, "kind": "decrease", "start": 1e-300, "target": 0.0},
            {**base, "target": 2e15},
            {**base, "start": -1e300},
            {**base, "target": float("nan")},
            {**base, "target": float("inf")},
            {**base, "weight": 1e300},
            {**base, "title": "NPS\x00"},
            {**base, "description": "\ud800"},
            {**base, "unit": "%\x00"},
            {**base, "due_at": "9999-12-31T23:00:00Z"},
            {**base, "starts_at": "0001-01-01T00:00:00+01:00"},
        ]
        for body in bad:
            answer = await post_raw(goals_db, path, body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        detail = await goals_db.ok(await goals_db.client.get(f"/v1/objectives/{objective['id']}"))
        assert detail["key_results"] == []

        kr = await goals_db.kr(objective["id"], start=0.0, target=100.0)
        for change in ({"target": 1e-12}, {"start": 99.9999999999999}, {"target": 3e15}):
            answer = await post_raw(goals_db, f"/v1/key-results/{kr['id']}", change, "PATCH")
            assert answer.status_code == 422, (change, answer.text)
        for check_in in ({"value": 1e16}, {"value": float("nan")}, {"value": 1.0, "note": "\x00"}):
            answer = await post_raw(goals_db, f"/v1/key-results/{kr['id']}/check-ins", check_in)
            assert answer.status_code == 422, (check_in, answer.text)
        after = await goals_db.ok(await goals_db.client.get(f"/v1/key-results/{kr['id']}"))
        assert (after["start"], after["target"], after["current"]) == (0.0, 100.0, None)
