"""Re-evaluating only what a change moved: the KRs it touched (those a batch of KPI values
stored a new period value on, or the one a write made or edited), the objectives it made or
edited, those KRs' and objectives' ancestors (for the roll-ups), from the stored numbers of
everything else.

The same rules as `evaluation.evaluate` (the per-KR and per-objective functions and
`announce` are its own), so for a cycle whose stored numbers are those a full re-evaluation at
`now` leaves, the outcome and the events are exactly those of the full one; the other KRs keep
their stored numbers (the status timer still re-evaluates whole cycles for what time alone
moves). An objective's own numbers come from its stored totals (`totals.KrTotals`), moved by
the touched KRs, so the thousand other KRs of an objective are not read; only an objective not
counted yet, or one whose KRs a write may have added or re-weighted, is counted from all of
them (`to_read`). Pure, like `evaluation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from services.goals.domain import evaluation as ev
from services.goals.domain import kpi_link as link
from services.goals.domain import totals
from services.goals.domain.states import (
    Change,
    CycleView,
    KeyResultState,
    KrLight,
    ObjectiveState,
    Outcome,
    Policy,
)


def affected(
    objectives: Sequence[ObjectiveState],
    touched: Sequence[KeyResultState],
    edited: Iterable[str | None] = (),
) -> set[str]:
    """The ids of the touched KRs' objectives, of the `edited` objectives (made, edited, or
    the parent an objective left) and of all their ancestors in the cycle: the objectives
    whose numbers the change can move."""
    by_id = {o.id: o for o in objectives}
    found: set[str] = set()
    for start in [*(kr.objective_id for kr in touched), *edited]:
        oid: str | None = start
        while oid is not None and oid in by_id and oid not in found:
            found.add(oid)
            oid = by_id[oid].parent_id
    return found


def to_read(
    objectives: Sequence[ObjectiveState],
    touched: Sequence[KeyResultState],
    edited: Iterable[str | None] = (),
    *,
    counted: bool,
) -> set[str]:
    """The objectives `affected` whose KRs a partial re-evaluation reads to count them
    (`totals.of_krs`): those not counted yet, and, unless the `touched` KRs are `counted` in
    their objectives' totals as given (a batch of KPI values: as stored, their weights kept),
    the touched KRs' own (a write may add a KR or change its weight). The others' totals
    follow the touched KRs (`KrTotals.moved`): an objective of a thousand KRs is not read
    for the few a batch moves."""
    by_id = {o.id: o for o in objectives}
    recount = set() if counted else {kr.objective_id for kr in touched}
    return {
        oid
        for oid in affected(objectives, touched, edited)
        if by_id[oid].kr_totals is None or oid in recount
    }


def evaluate_touched(
    cycle: CycleView,
    objectives: Sequence[ObjectiveState],
    touched: Sequence[KeyResultState],
    periods: Mapping[str, Sequence[link.PeriodValue]],
    others: Sequence[KrLight],
    *,
    edited: Iterable[str | None] = (),
    counted: bool,
    change: Change,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Re-judge the `touched` KRs (as stored after the change, in the cycle's order) with
    the stored KPI `periods` of those that follow a KPI, then the objectives `affected` by
    them and by the `edited` objectives; an open cycle only.

    `objectives`: every objective of the cycle, as stored after the change (in the cycle's
    order). `counted`: whether the touched KRs are as their objectives' totals count them
    (see `to_read`). `others`: every other KR of the objectives `to_read`, as stored. The
    outcome holds the touched KRs and the affected objectives only.
    """
    assert cycle.state != "closed", "a closed cycle is frozen"
    assert not change.closing, "a closing cycle is re-evaluated whole"
    judged_krs: dict[str, KeyResultState] = {}
    graduated: list[KeyResultState] = []
    for kr in touched:
        judged, graduates = ev.judge_kr(
            kr,
            periods.get(kr.id, ()) if kr.follows_kpi else None,
            at=now,
            closed=False,
            closing=False,
            policy=policy,
            now=now,
            tz=cycle.timezone,
        )
        judged_krs[kr.id] = judged
        if graduates:
            graduated.append(judged)

    moving = affected(objectives, touched, edited)
    reading = to_read(objectives, touched, edited, counted=counted)
    read: dict[str, list[KeyResultState | KrLight]] = {oid: [] for oid in reading}
    for light in others:
        read[light.objective_id].append(light)
    own: dict[str, list[KeyResultState]] = {oid: [] for oid in moving}
    for kr in touched:
        own[kr.objective_id].append(kr)
    judged_objectives = {o.id: o for o in objectives}
    counts: dict[str, totals.KrTotals] = {}
    for oid in moving:
        o = judged_objectives[oid]
        after = [judged_krs[kr.id] for kr in own[oid]]
        if oid in reading:
            counts[oid] = totals.of_krs([*read[oid], *after])
        else:
            assert o.kr_totals is not None, "an objective not counted yet is read"
            counts[oid] = o.kr_totals.moved(own[oid], after)
        judged_objectives[oid] = ev.judge_objective(o, counts[oid], frozen=False, closing=False)
    ev.roll_up(
        judged_objectives,
        ev.children_of(objectives),
        {oid: counts[oid].count > 0 for oid in moving},
        moving,
    )

    changed, events = ev.announce(
        ((before, judged_krs[before.id]) for before in touched),
        graduated,
        ((o, judged_objectives[o.id]) for o in objectives if o.id in moving),
        change=change,
        tz=cycle.timezone,
    )
    return Outcome(
        key_results=judged_krs,
        objectives={oid: o for oid, o in judged_objectives.items() if oid in moving},
        changed=changed,
        events=events,
        rewritten=frozenset(
            o.id for o in objectives if o.id in moving and o != judged_objectives[o.id]
        ),
    )
