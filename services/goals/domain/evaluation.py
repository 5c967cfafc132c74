"""Re-evaluating a cycle: every KR's progress and status, every objective's own and rolled-up
values, the scores at close, graduation of KRs linked to a KPI, and the events that announce
what changed.

Pure: the cycle's objectives and KRs as stored (after the change being evaluated), the KPI
periods its linked KRs stored, and `now` in; an `Outcome` out. `service/evaluation.py` loads
and saves around it, in the transaction of the change. The rules for one KR and one objective
(`judge_kr`, `judge_objective`, `rolled_up`) and what is announced (`announce`) are shared
with `touched.evaluate_touched`, which re-judges only the KRs a batch of KPI values moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.domain import scoring, totals
from services.goals.domain.states import (
    Change,
    CycleView,
    Event,
    KeyResultState,
    KrGraduated,
    KrLight,
    KrProgressed,
    ObjectiveChanged,
    ObjectiveState,
    Outcome,
    Policy,
)
from services.goals.domain.totals import KrTotals

__all__ = [
    "Change",
    "CycleView",
    "Event",
    "KeyResultState",
    "KrGraduated",
    "KrLight",
    "KrProgressed",
    "ObjectiveChanged",
    "ObjectiveState",
    "Outcome",
    "Policy",
    "evaluate",
    "kpi_followers",
]


def _frozen(cycle: CycleView, change: Change) -> bool:
    """A closed cycle's numbers are frozen: only its scores move."""
    return cycle.state == "closed" and not change.closing


def kpi_followers(
    cycle: CycleView, key_results: Iterable[KeyResultState], change: Change
) -> list[str]:
    """The KRs whose stored KPI periods a re-evaluation reads: those that follow a KPI, none
    in a frozen (closed) cycle."""
    if _frozen(cycle, change):
        return []
    return [kr.id for kr in key_results if kr.follows_kpi]


def _cadence(kr: KeyResultState) -> timedelta | None:
    return None if kr.kpi_cadence_s is None else timedelta(seconds=kr.kpi_cadence_s)


def _follow_kpi(
    kr: KeyResultState, stored: Sequence[link.PeriodValue], at: datetime, tz: str
) -> tuple[KeyResultState, bool]:
    """The KR with its numbers in line with the KPI periods it stored, and whether its KPI is
    stale (quiet for longer than its cadence)."""
    periods = link.in_window(stored, kr.starts_at, kr.due_at)
    aggregation = link.WindowAggregation(kr.kpi_aggregation or "last")
    value = link.window_value(periods, aggregation)
    current, last_at = kr.current, kr.kpi_last_at
    if value is not None:
        current, last_at = value, max(period.last_at for period in periods)
    elif link.emptied_window(stored, kr.starts_at, kr.due_at):
        current, last_at = None, None
    elapsed = (
        link.periods_elapsed(kr.starts_at, kr.due_at, link.KpiPeriod(kr.kpi_period), at, tz)
        if kr.kpi_period is not None
        else len([period for period in periods if period.end <= at])
    )
    followed = replace(
        kr,
        current=current,
        kpi_last_at=last_at,
        # Each period is judged by its own window value, not by the KR's current one.
        periods_met=link.periods_met(kr.spec, periods, aggregation, at),
        periods_elapsed=elapsed,
    )
    return followed, link.is_stale(last_at, _cadence(kr), at)


def _graduated(kr: KeyResultState, now: datetime) -> KeyResultState:
    """Closed as achieved: met long enough, it becomes the KPI's guardrail."""
    return replace(
        kr,
        state="graduated",
        graduated_at=now,
        status=p.Status.ACHIEVED.value,
        raw_progress=max(kr.raw_progress, 1.0),
        progress=1.0,
        score=kr.score if kr.score_overridden else 1.0,
    )


def judge_kr(
    kr: KeyResultState,
    stored: Sequence[link.PeriodValue] | None,
    *,
    at: datetime,
    closed: bool,
    closing: bool,
    policy: Policy,
    now: datetime,
    tz: str,
) -> tuple[KeyResultState, bool]:
    """The KR re-judged at `at`, and whether it graduated now. `stored`: the KPI periods of a
    KR that follows a KPI (None for one that does not); `tz`: its tenant's timezone."""
    if kr.state == "graduated":
        # Closed as achieved when it graduated: its numbers stay as they were then.
        return replace(kr, expected=p.expected(kr.starts_at, kr.due_at, at)), False
    stale = False
    if stored is not None:
        kr, stale = _follow_kpi(kr, stored, at, tz)
    spec = kr.spec
    raw = p.raw_progress(spec)
    kr = replace(
        kr,
        raw_progress=raw,
        progress=p.clamp01(raw),
        expected=p.expected(kr.starts_at, kr.due_at, at),
        status=p.status(
            spec,
            kr.starts_at,
            kr.due_at,
            at,
            closed=closed,
            stale=stale,
            thresholds=policy.thresholds,
        ).value,
    )
    needed = kr.graduation_periods or policy.graduation_periods
    if (
        not closed
        and stored is not None
        and link.graduates(p.KrKind(kr.kind), kr.periods_met or 0, needed)
    ):
        return _graduated(kr, now), True
    if closing and not kr.score_overridden:
        kr = replace(kr, score=scoring.suggested_kr_score(spec))
    return kr, False


def judge_objective(
    o: ObjectiveState, totals: KrTotals, *, frozen: bool, closing: bool
) -> ObjectiveState:
    """The objective's own progress, status and state from the `totals` of its KRs (as
    judged), before the roll-up and the score."""
    if frozen:
        return replace(o, kr_totals=totals)
    return replace(
        o,
        progress=totals.progress(),
        status=totals.status().value,
        state="closed" if closing else o.state,
        kr_totals=totals,
    )


def scored(o: ObjectiveState, own: Sequence[KeyResultState]) -> ObjectiveState:
    """A closed cycle's objective with its score from its KRs `own` (unless overridden)."""
    if o.score_overridden:
        return o
    scores = [kr.score if kr.score is not None else 0.0 for kr in own]
    return replace(o, score=scoring.objective_score(scores, [kr.weight for kr in own]))


def rolled_up(o: ObjectiveState, own_krs: bool, kids: Sequence[ObjectiveState]) -> ObjectiveState:
    """The objective's roll-up over its aligned children `kids` (rolled up already); `own_krs`:
    whether it has KRs of its own (its own numbers count only then)."""
    return replace(
        o,
        rollup_progress=p.rollup_progress(
            o.progress if own_krs else None, [k.rollup_progress for k in kids]
        ),
        rollup_status=p.rollup_status(
            p.Status(o.status) if own_krs else None, [p.Status(k.rollup_status) for k in kids]
        ).value,
    )


def children_of(objectives: Iterable[ObjectiveState]) -> dict[str, list[str]]:
    """Each objective's aligned children among `objectives`, in their order (a parent outside
    them, in another cycle, rolls nothing up)."""
    listed = list(objectives)
    children: dict[str, list[str]] = {o.id: [] for o in listed}
    for o in listed:
        if o.parent_id in children:
            children[o.parent_id].append(o.id)
    return children


def roll_up(
    judged: dict[str, ObjectiveState],
    children: Mapping[str, Sequence[str]],
    own_krs: Mapping[str, bool],
    which: Iterable[str],
) -> None:
    """Roll up the objectives `which` of `judged` in place, children first; a child not among
    `which` counts as it is in `judged`."""
    rolling = set(which)
    done: set[str] = set()

    def roll(oid: str, path: frozenset[str]) -> None:
        if oid in done or oid in path:  # `path`: a loop (refused on write) cannot recurse
            return
        for child in children[oid]:
            if child in rolling:
                roll(child, path | {oid})
        judged[oid] = rolled_up(
            judged[oid], own_krs.get(oid, False), [judged[c] for c in children[oid]]
        )
        done.add(oid)

    for oid in judged:
        if oid in rolling:
            roll(oid, frozenset())


def graduation(kr: KeyResultState, tz: str) -> KrGraduated:
    """The event of a KR that graduated (see `KrGraduated`)."""
    kind = p.KrKind(kr.kind)
    # keep_between has no single target: its guardrail is the two bounds.
    target = kr.target if kr.target is not None else kr.bound_low or 0.0
    period = link.known_period(kr.kpi_period) if kr.kpi_period is not None else None
    pace = link.graduation_pace(
        kr.spec,
        link.WindowAggregation(kr.kpi_aggregation or "last"),
        period,
        kr.starts_at,
        kr.due_at,
        tz,
    )
    return KrGraduated(kr, target=target, direction=link.graduation_direction(kind), pace=pace)


def announce(
    key_results: Iterable[tuple[KeyResultState, KeyResultState]],
    graduated: Iterable[KeyResultState],
    objectives: Iterable[tuple[ObjectiveState, ObjectiveState]],
    *,
    change: Change,
    tz: str,
) -> tuple[frozenset[str], tuple[Event, ...]]:
    """The ids whose change is announced and the events, from each KR and objective (before,
    after), in the order they are published: a KR or objective is announced when a number of
    it moved (`numbers()`), or it is in `change.created` (with no previous status) or
    `change.touched`. Every KR's progress first, then the graduations, then every objective's
    change."""
    announced = {*change.created, *change.touched}
    changed: set[str] = set()
    progressed: list[Event] = []
    for before, kr in key_results:
        if kr.id in announced or before.numbers() != kr.numbers():
            changed.add(kr.id)
            previous = None if kr.id in change.created else before.status
            progressed.append(KrProgressed(kr, previous_status=previous, source=change.source))
    moved: list[Event] = []
    for before_o, o in objectives:
        if o.id in announced or before_o.numbers() != o.numbers():
            changed.add(o.id)
            previous = None if o.id in change.created else before_o.status
            moved.append(ObjectiveChanged(o, previous_status=previous))
    events = (*progressed, *(graduation(kr, tz) for kr in graduated), *moved)
    return frozenset(changed), events


def evaluate(
    cycle: CycleView,
    objectives: Sequence[ObjectiveState],
    key_results: Sequence[KeyResultState],
    periods: Mapping[str, Sequence[link.PeriodValue]],
    *,
    change: Change,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Re-judge the cycle at `now` (at its close, for a closed cycle).

    `objectives` and `key_results`: all of the cycle's, as stored after the change. `periods`:
    the KPI periods stored by each of `kpi_followers(...)`. Rules: DESIGN.md "Progress",
    "Status", "Score at close", "KPI ↔ OKR"; a closed cycle's numbers are frozen, only its
    scores move. What is announced: `announce`.
    """
    frozen = _frozen(cycle, change)
    closed = change.closing or cycle.state == "closed"
    at = now if not closed or cycle.closed_at is None else cycle.closed_at
    followers = set(kpi_followers(cycle, key_results, change))

    judged_krs: dict[str, KeyResultState] = {}
    graduated: list[KeyResultState] = []
    for kr in key_results:
        if not frozen:
            stored = periods.get(kr.id, ()) if kr.id in followers else None
            kr, graduates = judge_kr(
                kr,
                stored,
                at=at,
                closed=closed,
                closing=change.closing,
                policy=policy,
                now=now,
                tz=cycle.timezone,
            )
            if graduates:
                graduated.append(kr)
        judged_krs[kr.id] = kr

    by_objective: dict[str, list[KeyResultState]] = {o.id: [] for o in objectives}
    for kr in judged_krs.values():
        by_objective.setdefault(kr.objective_id, []).append(kr)
    judged_objectives = {
        o.id: judge_objective(
            o, totals.of_krs(by_objective[o.id]), frozen=frozen, closing=change.closing
        )
        for o in objectives
    }
    if closed:
        for oid, o in judged_objectives.items():
            judged_objectives[oid] = scored(o, by_objective[oid])
    if not frozen:
        own_krs = {oid: bool(krs) for oid, krs in by_objective.items()}
        roll_up(judged_objectives, children_of(objectives), own_krs, judged_objectives)

    changed, events = announce(
        ((before, judged_krs[before.id]) for before in key_results),
        graduated,
        ((before, judged_objectives[before.id]) for before in objectives),
        change=change,
        tz=cycle.timezone,
    )
    return Outcome(
        key_results=judged_krs, objectives=judged_objectives, changed=changed, events=events
    )
