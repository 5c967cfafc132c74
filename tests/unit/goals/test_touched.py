"""The partial re-evaluation of a batch of KPI values (`touched.evaluate_touched`) against the
full one (`evaluation.evaluate`), on randomized cycles: from numbers a full re-evaluation
left, the KRs that stored a new KPI period and the objectives above them come out the same,
with the same events in the same order, and nothing else moves in the full one either."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.goals.domain.evaluation import (
    Change,
    CycleView,
    KeyResultState,
    KrLight,
    ObjectiveState,
    Outcome,
    Policy,
    evaluate,
)
from services.goals.domain.kpi_link import PeriodValue
from services.goals.domain.progress import Thresholds
from services.goals.domain.touched import affected, evaluate_touched, to_read
from tests.unit.goals.test_evaluation import kr, objective

DAY = timedelta(days=1)
NOW = datetime(2026, 10, 11, 15, tzinfo=UTC)
WINDOW_START = datetime(2026, 10, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 10, 31, tzinfo=UTC)
POLICY = Policy(thresholds=Thresholds(), graduation_periods=3)
KPI_CHANGE = Change(source="kpi")

KINDS: dict[str, dict[str, object]] = {
    "increase": {"start": 0.0, "target": 100.0},
    "decrease": {"start": 100.0, "target": 20.0},
    "keep_above": {"target": 50.0},
    "keep_below": {"target": 50.0},
    "keep_between": {"bound_low": 30.0, "bound_high": 70.0},
    "milestone": {},
}
AGGREGATIONS = ("last", "sum", "avg", "min", "max", "count")


def period(day: int, value: float, count: int = 1) -> PeriodValue:
    start = WINDOW_START + day * DAY
    return PeriodValue(start, start + DAY, value, count, start + DAY / 2, 0)


def random_cycle(
    rng: random.Random,
) -> tuple[CycleView, list[ObjectiveState], list[KeyResultState], dict[str, list[PeriodValue]]]:
    """Up to 6 objectives (aligned under earlier ones, some under one of another cycle), up
    to 12 KRs of every kind, most linked to a KPI with some stored periods."""
    objectives: list[ObjectiveState] = []
    for i in range(rng.randint(1, 6)):
        parents = [None, "elsewhere", *(o.id for o in objectives)]
        objectives.append(objective(f"o{i}", parent_id=rng.choice(parents)))
    key_results: list[KeyResultState] = []
    periods: dict[str, list[PeriodValue]] = {}
    for i in range(rng.randint(1, 12)):
        kind = rng.choice(list(KINDS))
        linked = kind != "milestone" and rng.random() < 0.8
        fields: dict[str, object] = {
            **KINDS[kind],
            "kind": kind,
            "objective_id": rng.choice(objectives).id,
            "weight": rng.choice([0.0, 1.0, 1.0, 2.5]),
            "starts_at": WINDOW_START,
            "due_at": WINDOW_END,
            "current": rng.choice([None, rng.uniform(0, 120)]),
            "done": kind == "milestone" and rng.random() < 0.5,
        }
        if linked:
            fields |= {
                "kpi": f"k{i}",
                "kpi_aggregation": rng.choice(AGGREGATIONS),
                "kpi_period": "day",
                "kpi_cadence_s": rng.choice([None, 3600, 30 * 86400]),
                "graduation_periods": rng.choice([None, 1, 2, 5]),
            }
            days = sorted(rng.sample(range(11), rng.randint(0, 6)))
            periods[f"kr{i}"] = [
                period(d, rng.uniform(0, 120), rng.choice([0, 1, 3])) for d in days
            ]
        key_results.append(kr(f"kr{i}", **fields))
    tz = rng.choice(["UTC", "Europe/Berlin"])
    return (
        CycleView(state=rng.choice(["active", "planning"]), closed_at=None, timezone=tz),
        objectives,
        key_results,
        periods,
    )


def settled(
    cycle: CycleView,
    objectives: list[ObjectiveState],
    key_results: list[KeyResultState],
    periods: dict[str, list[PeriodValue]],
) -> tuple[list[ObjectiveState], list[KeyResultState]]:
    """The numbers a full re-evaluation at NOW leaves stored (one more changes nothing)."""
    for _ in range(3):
        outcome = run_full(cycle, objectives, key_results, periods)
        objectives = [outcome.objectives[o.id] for o in objectives]
        key_results = [outcome.key_results[k.id] for k in key_results]
        if not outcome.events:
            return objectives, key_results
    raise AssertionError("a full re-evaluation does not settle")


def run_full(
    cycle: CycleView,
    objectives: list[ObjectiveState],
    key_results: list[KeyResultState],
    periods: dict[str, list[PeriodValue]],
) -> Outcome:
    return evaluate(
        cycle, objectives, key_results, periods, change=KPI_CHANGE, policy=POLICY, now=NOW
    )


def new_values(
    rng: random.Random, key_results: list[KeyResultState], periods: dict[str, list[PeriodValue]]
) -> tuple[list[KeyResultState], dict[str, list[PeriodValue]]]:
    """Some open linked KRs store a new or replaced period (today's, or a late one)."""
    followers = [k for k in key_results if k.follows_kpi]
    touched = [k for k in followers if rng.random() < 0.5]
    stored = dict(periods)
    for k in touched:
        day = rng.choice([10, 10, rng.randint(0, 10)])
        kept = [p for p in stored.get(k.id, []) if p.start != WINDOW_START + day * DAY]
        fresh = period(day, rng.uniform(0, 120), rng.choice([0, 1, 2]))
        stored[k.id] = sorted([*kept, fresh], key=lambda p: p.start)
    return touched, stored


@pytest.mark.parametrize("seed", range(400))
def test_the_partial_path_is_the_full_one(seed: int) -> None:
    rng = random.Random(seed)
    cycle, objectives, key_results, periods = random_cycle(rng)
    objectives, key_results = settled(cycle, objectives, key_results, periods)
    touched, stored = new_values(rng, key_results, periods)

    # Some objectives are not counted yet (rows from before their totals were kept).
    objectives = [o if rng.random() < 0.7 else replace(o, kr_totals=None) for o in objectives]

    full = run_full(cycle, objectives, key_results, stored)
    moving = affected(objectives, touched)
    reading = to_read(objectives, touched, counted=True)
    touched_ids = {k.id for k in touched}
    others = [
        KrLight(k.id, k.objective_id, k.weight, k.progress, k.status, k.score)
        for k in key_results
        if k.objective_id in reading and k.id not in touched_ids
    ]
    partial = evaluate_touched(
        cycle,
        objectives,
        touched,
        {k.id: stored.get(k.id, []) for k in touched},
        others,
        counted=True,
        change=KPI_CHANGE,
        policy=POLICY,
        now=NOW,
    )

    assert partial.events == full.events
    assert partial.changed == full.changed
    assert partial.key_results == {k.id: full.key_results[k.id] for k in touched}
    # Totals moved by the touched KRs are those counted afresh from every KR.
    assert partial.objectives == {oid: full.objectives[oid] for oid in moving}
    assert partial.rewritten == {o.id for o in objectives if o.id in moving} - {
        o.id for o in objectives if full.objectives[o.id] == o
    }
    # What the partial path leaves alone, the full one leaves as stored too (but for the
    # totals of an objective not counted yet: a full pass counts every objective).
    assert [full.key_results[k.id] for k in key_results if k.id not in touched_ids] == [
        k for k in key_results if k.id not in touched_ids
    ]
    assert [uncounted(full.objectives[o.id]) for o in objectives if o.id not in moving] == [
        uncounted(o) for o in objectives if o.id not in moving
    ]


def uncounted(o: ObjectiveState) -> ObjectiveState:
    return replace(o, kr_totals=None)


def test_the_randomized_cycles_cover_what_matters() -> None:
    """The cases above are not all quiet: KRs move, objectives roll up through parents, KRs
    graduate."""
    moved = rolled = graduated = 0
    for seed in range(400):
        rng = random.Random(seed)
        cycle, objectives, key_results, periods = random_cycle(rng)
        objectives, key_results = settled(cycle, objectives, key_results, periods)
        touched, stored = new_values(rng, key_results, periods)
        full = run_full(cycle, objectives, key_results, stored)
        moved += any(k.id in full.changed for k in touched)
        rolled += any(o.parent_id in full.changed for o in objectives if o.id in full.changed)
        graduated += any(full.key_results[k.id].state == "graduated" != k.state for k in touched)
    assert moved > 200
    assert rolled > 30
    assert graduated > 5


def test_an_objective_without_touched_krs_stays_out() -> None:
    objectives = [objective("o1"), objective("o2", parent_id="o1"), objective("o3")]
    touched = [replace(kr("kr1", objective_id="o2"), kpi="k1")]
    assert affected(objectives, touched) == {"o1", "o2"}
