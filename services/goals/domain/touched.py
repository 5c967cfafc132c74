"""Re-evaluating only what a change moved: the KRs it touched (those a batch of KPI values
stored a new period value on, or the one a write made or edited), the objectives it made or
edited, those KRs' and objectives' ancestors (for the roll-ups), from the stored numbers of
everything else.

The same rules as `evaluation.evaluate` (the per-KR and per-objective functions and
`announce` are its own), so for a cycle whose stored numbers are those a full re-evaluation at
`now` leaves, the outcome and the events are exactly those of the full one; the other KRs keep
their stored numbers (the status timer still re-evaluates whole cycles for what time alone
moves). Pure, like `evaluation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from services.goals.domain import evaluation as ev
from services.goals.domain import kpi_link as link
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


def evaluate_touched(
    cycle: CycleView,
    objectives: Sequence[ObjectiveState],
    touched: Sequence[KeyResultState],
    periods: Mapping[str, Sequence[link.PeriodValue]],
    others: Sequence[KrLight],
    *,
    edited: Iterable[str | None] = (),
    change: Change,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Re-judge the `touched` KRs (as stored after the change, in the cycle's order) with
    the stored KPI `periods` of those that follow a KPI, then the objectives `affected` by
    them and by the `edited` objectives; an open cycle only.

    `objectives`: every objective of the cycle, as stored after the change (in the cycle's
    order). `others`: every other KR of the affected objectives, as stored. The outcome holds
    the touched KRs and the affected objectives only.
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
    own: dict[str, list[KeyResultState | KrLight]] = {oid: [] for oid in moving}
    listed: list[KeyResultState | KrLight] = [*others, *judged_krs.values()]
    for item in listed:
        if item.objective_id in own:
            own[item.objective_id].append(item)
    judged_objectives = {o.id: o for o in objectives}
    for oid in moving:
        judged_objectives[oid] = ev.judge_objective(
            judged_objectives[oid], own[oid], frozen=False, closed=False, closing=False
        )
    ev.roll_up(
        judged_objectives,
        ev.children_of(objectives),
        {oid: bool(krs) for oid, krs in own.items()},
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
    )
