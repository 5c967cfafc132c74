"""The write paths' partial re-evaluation (`service.evaluation.reevaluate_write` runs
`touched.evaluate_touched` with the KRs a write made or edited and the objectives it made or
edited) against the full one (`evaluation.evaluate`), on randomized cycles: from numbers a full
re-evaluation left, one REST write (a KR made, edited, checked in, relinked or backfilled; an
objective made, realigned or carried over) comes out the same, with the same events in the
same order, and nothing else moves in the full one either."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from services.goals.domain.alignment import creates_cycle
from services.goals.domain.evaluation import (
    Change,
    CycleView,
    KeyResultState,
    KrLight,
    ObjectiveState,
    evaluate,
)
from services.goals.domain.kpi_link import PeriodValue
from services.goals.domain.touched import affected, evaluate_touched, to_read
from tests.unit.goals.test_evaluation import kr, objective
from tests.unit.goals.test_touched import (
    AGGREGATIONS,
    DAY,
    KINDS,
    NOW,
    POLICY,
    WINDOW_END,
    WINDOW_START,
    period,
    random_cycle,
    settled,
)


@dataclass
class Write:
    """A cycle after one write, and what the write path hands the partial re-evaluation."""

    objectives: list[ObjectiveState]
    key_results: list[KeyResultState]
    periods: dict[str, list[PeriodValue]]
    change: Change
    touched: list[str] = field(default_factory=list)  # KR ids, made or edited
    edited: list[str | None] = field(default_factory=list)  # objective ids


Cycle = tuple[list[ObjectiveState], list[KeyResultState], dict[str, list[PeriodValue]]]


def new_kr(rng: random.Random, kr_id: str, objective_id: str) -> KeyResultState:
    """A KR as `key_results.new_kr` adds it: not judged yet, linked to a KPI or not."""
    kind = rng.choice(list(KINDS))
    fields: dict[str, object] = {
        **KINDS[kind],
        "kind": kind,
        "objective_id": objective_id,
        "weight": rng.choice([0.0, 1.0, 2.5]),
        "starts_at": WINDOW_START + rng.choice([0, 0, 3]) * DAY,
        "due_at": WINDOW_END,
        "current": rng.choice([None, rng.uniform(0, 120)]),
    }
    if kind != "milestone" and rng.random() < 0.6:
        fields |= {"kpi": kr_id, "kpi_aggregation": rng.choice(AGGREGATIONS), "kpi_period": "day"}
    return kr(kr_id, **fields)


def backfilled(rng: random.Random) -> list[PeriodValue]:
    days = sorted(rng.sample(range(11), rng.randint(0, 5)))
    return [period(d, rng.uniform(0, 120), rng.choice([0, 1, 3])) for d in days]


def create_kr(rng: random.Random, cycle: Cycle) -> Write:
    objectives, key_results, periods = cycle
    made = new_kr(rng, "new-kr", rng.choice(objectives).id)
    stored = dict(periods)
    if made.follows_kpi and rng.random() < 0.5:  # its backfill, in the same re-evaluation
        stored[made.id] = backfilled(rng)
    change = Change(created={made.id})
    return Write(objectives, [*key_results, made], stored, change, [made.id])


def backfill(rng: random.Random, cycle: Cycle) -> Write | None:
    objectives, key_results, periods = cycle
    followers = [k for k in key_results if k.follows_kpi]
    if not followers:
        return None
    target = rng.choice(followers)
    stored = dict(periods) | {target.id: backfilled(rng)}
    return Write(objectives, key_results, stored, Change(source="kpi"), [target.id])


def edit_kr(rng: random.Random, cycle: Cycle) -> Write | None:
    """A PATCH: numbers, weight or dates; or an unlink (its periods dropped)."""
    objectives, key_results, periods = cycle
    open_krs = [k for k in key_results if k.state == "open"]
    if not open_krs:
        return None
    before = rng.choice(open_krs)
    stored = dict(periods)
    edit = rng.choice(["weight", "target", "dates", "unlink"])
    if edit == "weight":
        after = replace(before, weight=rng.choice([0.0, 0.5, 3.0]))
    elif edit == "target" and before.target is not None:
        after = replace(before, target=before.target + rng.uniform(-15, 40))
    elif edit == "dates":
        after = replace(before, starts_at=WINDOW_START + 2 * DAY, due_at=WINDOW_END - DAY)
    else:
        stored.pop(before.id, None)
        after = replace(before, kpi=None, kpi_aggregation=None, kpi_period=None)
        after = replace(after, kpi_cadence_s=None, periods_met=None, periods_elapsed=None)
        after = replace(after, kpi_last_at=None)
    listed = [after if k.id == before.id else k for k in key_results]
    return Write(objectives, listed, stored, Change(touched={after.id}), [after.id])


def check_in(rng: random.Random, cycle: Cycle) -> Write | None:
    """A manual value (done, for a milestone), or confidence alone on a KR linked to a KPI."""
    objectives, key_results, periods = cycle
    open_krs = [k for k in key_results if k.state == "open"]
    if not open_krs:
        return None
    before = rng.choice(open_krs)
    if before.kpi is not None:
        after = before
    elif before.kind == "milestone":
        after = replace(before, done=not before.done)
    else:
        after = replace(before, current=rng.uniform(0, 120))
    listed = [after if k.id == before.id else k for k in key_results]
    return Write(objectives, listed, periods, Change(), [after.id])


def create_objective(rng: random.Random, cycle: Cycle) -> Write:
    objectives, key_results, periods = cycle
    parent = rng.choice([None, "elsewhere", *(o.id for o in objectives)])
    made = objective("new-o", parent_id=parent)
    change = Change(created={made.id})
    return Write([*objectives, made], key_results, periods, change, edited=[made.id])


def realign(rng: random.Random, cycle: Cycle) -> Write:
    """A PATCH of an objective's parent (never into a loop), or of its title alone."""
    objectives, key_results, periods = cycle
    moved = rng.choice(objectives)
    parents = {o.id: o.parent_id for o in objectives}
    choices = [None, "elsewhere", *(o.id for o in objectives)]
    allowed = [p for p in choices if not creates_cycle(moved.id, p, parents.get)]
    parent = rng.choice(allowed)
    after = replace(moved, parent_id=parent, title="Renamed")
    listed = [after if o.id == moved.id else o for o in objectives]
    edited = [moved.id] if parent == moved.parent_id else [moved.id, moved.parent_id]
    return Write(listed, key_results, periods, Change(touched={moved.id}), edited=edited)


def carry_over(rng: random.Random, cycle: Cycle) -> Write:
    """An objective copied in with its KRs (ordered as the cycle orders them)."""
    objectives, key_results, periods = cycle
    copy = objective("carried")
    made = [new_kr(rng, f"carried-kr{i}", copy.id) for i in range(rng.randint(0, 3))]
    change = Change(created={copy.id, *(k.id for k in made)})
    listed = [*key_results, *made]
    return Write([*objectives, copy], listed, periods, change, [k.id for k in made], [copy.id])


WRITES: list[Callable[[random.Random, Cycle], Write | None]] = [
    create_kr,
    create_kr,
    backfill,
    edit_kr,
    check_in,
    create_objective,
    realign,
    carry_over,
]


def one_write(seed: int) -> tuple[CycleView, str, Write]:
    """A random settled cycle, and one random write to it (its name, the cycle after it)."""
    rng = random.Random(seed)
    cycle, objectives, key_results, periods = random_cycle(rng)
    objectives, key_results = settled(cycle, objectives, key_results, periods)
    while True:
        make = rng.choice(WRITES)
        write = make(rng, (objectives, key_results, periods))
        if write is not None:
            return cycle, make.__name__, write


@pytest.mark.parametrize("seed", range(400))
def test_the_write_path_is_the_full_one(seed: int) -> None:
    cycle, _, write = one_write(seed)
    full = evaluate(
        cycle,
        write.objectives,
        write.key_results,
        write.periods,
        change=write.change,
        policy=POLICY,
        now=NOW,
    )
    touched = [k for k in write.key_results if k.id in write.touched]
    moving = affected(write.objectives, touched, write.edited)
    reading = to_read(write.objectives, touched, write.edited, counted=False)
    others = [
        KrLight(k.id, k.objective_id, k.weight, k.progress, k.status, k.score)
        for k in write.key_results
        if k.objective_id in reading and k.id not in write.touched
    ]
    partial = evaluate_touched(
        cycle,
        write.objectives,
        touched,
        {k.id: write.periods.get(k.id, []) for k in touched if k.follows_kpi},
        others,
        edited=write.edited,
        counted=False,
        change=write.change,
        policy=POLICY,
        now=NOW,
    )

    assert partial.events == full.events
    assert partial.changed == full.changed
    assert partial.key_results == {k.id: full.key_results[k.id] for k in touched}
    assert partial.objectives == {oid: full.objectives[oid] for oid in moving}
    # What the partial path leaves alone, the full one leaves as stored too.
    assert [full.key_results[k.id] for k in write.key_results if k.id not in write.touched] == [
        k for k in write.key_results if k.id not in write.touched
    ]
    assert [full.objectives[o.id] for o in write.objectives if o.id not in moving] == [
        o for o in write.objectives if o.id not in moving
    ]


def test_the_randomized_writes_cover_what_matters() -> None:
    """The writes above are not all quiet: every kind is drawn, KRs and objectives move and
    are announced, roll-ups move through parents (the one an objective left too)."""
    drawn: set[str] = set()
    moved = announced = rolled = left = 0
    for seed in range(400):
        cycle, name, write = one_write(seed)
        drawn.add(name)
        full = evaluate(
            cycle,
            write.objectives,
            write.key_results,
            write.periods,
            change=write.change,
            policy=POLICY,
            now=NOW,
        )
        moved += any(k in full.changed for k in write.touched)
        announced += any(o.id in full.changed for o in write.objectives)
        rolled += any(o.parent_id in full.changed for o in write.objectives if o.id in full.changed)
        old_parents = [p for p in write.edited[1:] if p is not None and p != "elsewhere"]
        left += any(p in full.changed for p in old_parents)
    assert drawn == {make.__name__ for make in WRITES}
    assert moved > 100
    assert announced > 200
    assert rolled > 30
    assert left > 5


def test_the_parent_an_objective_left_moves() -> None:
    objectives = [objective("o1"), objective("o2"), objective("o3", parent_id="o2")]
    touched: list[KeyResultState] = []
    assert affected(objectives, touched, ["o3", "o1"]) == {"o1", "o2", "o3"}
    assert affected(objectives, touched, ["o3", None, "elsewhere"]) == {"o2", "o3"}
