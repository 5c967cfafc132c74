"""The payloads goals writes out by hand for `okr.events` (`mappers._kr_progress`,
`mappers._objective_changed`, sent through `shared.events.own_event`) are what the contract
models make of the same values: built and validated by pydantic, then dumped in JSON mode."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.goals import mappers
from services.goals.domain import evaluation as ev
from services.goals.domain.states import KeyResultState, ObjectiveState
from shared.events import (
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    CloudEvent,
    KrProgressV1,
    ObjectiveChangedV1,
    new_event,
)

AT = datetime(2026, 12, 7, 6, 0, 0, 123456, tzinfo=UTC)


def _number(rng: random.Random) -> float:
    """Floats of every size, and whole numbers as ints (the domain may compute either)."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randrange(-5, 5)
    if kind == 1:
        return rng.uniform(-1, 1) * 10 ** rng.randrange(-8, 12)
    return rng.random()


def _maybe(rng: random.Random, value: object) -> object:
    return None if rng.random() < 0.3 else value


def key_result(rng: random.Random) -> KeyResultState:
    return KeyResultState(
        id=f"kr-{rng.randrange(10**6)}",
        objective_id="o-1",
        cycle_id="c-1",
        title=rng.choice(["Grow revenue", 'Ünïcödé ✓ "quoted"', "a\\b", "t\tab"]),
        kind=rng.choice(["increase", "decrease", "range", "binary"]),
        start=0.0,
        target=10.0,
        bound_low=None,
        bound_high=None,
        current=_maybe(rng, _number(rng)),  # type: ignore[arg-type]
        done=False,
        weight=1.0,
        starts_at=AT - timedelta(days=30),
        due_at=AT + timedelta(days=60),
        kpi=_maybe(rng, "churn"),  # type: ignore[arg-type]
        kpi_aggregation=None,
        kpi_period=None,
        kpi_cadence_s=None,
        kpi_last_at=None,
        periods_met=_maybe(rng, rng.randrange(10)),  # type: ignore[arg-type]
        periods_elapsed=_maybe(rng, rng.randrange(10)),  # type: ignore[arg-type]
        graduation_periods=None,
        state="active",
        graduated_at=None,
        progress=_number(rng),
        raw_progress=_number(rng),
        expected=_maybe(rng, _number(rng)),  # type: ignore[arg-type]
        status=rng.choice(["on_track", "at_risk", "off_track"]),
        score=None,
        score_overridden=False,
    )


def objective(rng: random.Random) -> ObjectiveState:
    return ObjectiveState(
        id=f"o-{rng.randrange(10**6)}",
        cycle_id="c-1",
        title=rng.choice(["Delight users", "Ünïcödé ✓", 'q"uote']),
        parent_id=_maybe(rng, "o-0"),  # type: ignore[arg-type]
        team_id=_maybe(rng, "t-1"),  # type: ignore[arg-type]
        state=rng.choice(["active", "closed"]),
        progress=_number(rng),
        status=rng.choice(["on_track", "at_risk"]),
        rollup_progress=_number(rng),
        rollup_status="on_track",
        score=_maybe(rng, rng.random()),  # type: ignore[arg-type]
        score_overridden=False,
    )


def _pair(event: ev.Event) -> tuple[CloudEvent, CloudEvent]:
    """The event as goals builds it, and as the validated model builds it (same id)."""
    fast = mappers.cloud_event(event, source="lodestar/goals", tenant="acme", time=AT)
    if isinstance(event, ev.KrProgressed):
        kr = event.key_result
        model: KrProgressV1 | ObjectiveChangedV1 = KrProgressV1(
            key_result_id=kr.id,
            objective_id=kr.objective_id,
            cycle_id=kr.cycle_id,
            title=kr.title,
            kind=kr.kind,
            current=kr.current,
            progress=kr.progress,
            raw_progress=kr.raw_progress,
            expected=kr.expected,
            status=kr.status,
            previous_status=event.previous_status,
            kpi=kr.kpi,
            source=event.source,
            periods_met=kr.periods_met,
            periods_elapsed=kr.periods_elapsed,
        )
        type_, subject = KR_PROGRESS_V1, kr.id
    else:
        assert isinstance(event, ev.ObjectiveChanged)
        o = event.objective
        model = ObjectiveChangedV1(
            objective_id=o.id,
            cycle_id=o.cycle_id,
            title=o.title,
            progress=o.progress,
            status=o.status,
            previous_status=event.previous_status,
            state=o.state,
            rollup_progress=o.rollup_progress,
            rollup_status=o.rollup_status,
            score=o.score,
            parent_id=o.parent_id,
            team_id=o.team_id,
        )
        type_, subject = OBJECTIVE_CHANGED_V1, o.id
    slow = new_event(
        type=type_,
        source="lodestar/goals",
        tenant="acme",
        subject=subject,
        data=model,
        time=AT,
        id=fast.id,
    )
    return fast, slow


def test_the_written_out_payloads_are_the_models_json_dump() -> None:
    rng = random.Random(2026_12_07)
    for _ in range(400):
        previous = rng.choice([None, "on_track", "off_track"])
        event: ev.Event = (
            ev.KrProgressed(key_result(rng), previous, rng.choice(["kpi", "manual"]))
            if rng.random() < 0.5
            else ev.ObjectiveChanged(objective(rng), previous)
        )
        fast, slow = _pair(event)
        assert fast.to_json() == slow.to_json()
        assert CloudEvent.model_validate_json(fast.to_json()) == slow
        payload = KrProgressV1 if isinstance(event, ev.KrProgressed) else ObjectiveChangedV1
        payload.model_validate(fast.data)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused_as_the_model_refuses_it(bad: float) -> None:
    kr = dataclasses.replace(key_result(random.Random(1)), progress=bad)
    with pytest.raises(ValueError, match="finite"):
        mappers.cloud_event(
            ev.KrProgressed(kr, None, "kpi"), source="lodestar/goals", tenant="acme", time=AT
        )
    o = dataclasses.replace(objective(random.Random(1)), score=bad)
    with pytest.raises(ValueError, match="finite"):
        mappers.cloud_event(
            ev.ObjectiveChanged(o, None), source="lodestar/goals", tenant="acme", time=AT
        )
