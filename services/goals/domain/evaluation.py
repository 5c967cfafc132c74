"""Re-evaluating a cycle: every KR's progress and status, every objective's own and rolled-up
values, the scores at close, graduation of KRs linked to a KPI, and the events that announce
what changed.

Pure: the cycle's objectives and KRs as stored (after the change being evaluated), the KPI
periods its linked KRs stored, and `now` in; an `Outcome` out. `service/evaluation.py` loads
and saves around it, in the transaction of the change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.domain import scoring
from shared.periods import DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings a re-evaluation applies: the pace thresholds, and how many consecutive
    met KPI periods graduate a linked KR that sets no number of its own."""

    thresholds: p.Thresholds
    graduation_periods: int


@dataclass(frozen=True, slots=True)
class CycleView:
    """What a re-evaluation reads of the cycle: `state` (planning, active, closed), when it
    closed, and the timezone of its tenant (the one its KPI periods follow)."""

    state: str
    closed_at: datetime | None
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class Change:
    """What set a re-evaluation off, beyond the numbers it will see.

    `source`: what moved the KRs (`manual`, `kpi` or `time`), told in their events.
    `created`: ids of KRs and objectives this write created: announced, with no previous
    status. `touched`: ids announced even if no number moved (an edited target, a new parent,
    a score set by hand). `closing`: this write closes the cycle, so its KRs and objectives
    are scored and its objectives close.
    """

    source: str = "manual"
    created: Collection[str] = ()
    touched: Collection[str] = ()
    closing: bool = False


@dataclass(frozen=True, slots=True)
class KeyResultState:
    """A key result as a re-evaluation reads it and writes it back (see `tables.KeyResult`)."""

    id: str
    objective_id: str
    cycle_id: str
    title: str
    kind: str
    start: float | None
    target: float | None
    bound_low: float | None
    bound_high: float | None
    current: float | None
    done: bool
    weight: float
    starts_at: datetime
    due_at: datetime
    kpi: str | None
    kpi_aggregation: str | None
    kpi_period: str | None
    kpi_cadence_s: int | None
    kpi_last_at: datetime | None
    periods_met: int | None
    periods_elapsed: int | None
    graduation_periods: int | None
    state: str
    graduated_at: datetime | None
    progress: float
    raw_progress: float
    expected: float | None
    status: str
    score: float | None
    score_overridden: bool

    @property
    def spec(self) -> p.KeyResultSpec:
        return p.KeyResultSpec(
            kind=p.KrKind(self.kind),
            start=self.start,
            target=self.target,
            bound_low=self.bound_low,
            bound_high=self.bound_high,
            current=self.current,
            done=self.done,
        )

    @property
    def follows_kpi(self) -> bool:
        return link.follows_kpi(self.kpi, self.state, self.kind)

    def numbers(self) -> tuple[object, ...]:
        """What an event announces a change of (a moved `expected` alone is not news)."""
        return (
            self.current,
            self.done,
            self.progress,
            self.raw_progress,
            self.status,
            self.state,
            self.periods_met,
            self.periods_elapsed,
        )


@dataclass(frozen=True, slots=True)
class ObjectiveState:
    """An objective as a re-evaluation reads it and writes it back (see `tables.Objective`)."""

    id: str
    cycle_id: str
    title: str
    parent_id: str | None
    team_id: str | None
    state: str
    progress: float
    status: str
    rollup_progress: float
    rollup_status: str
    score: float | None
    score_overridden: bool

    def numbers(self) -> tuple[object, ...]:
        """What an event announces a change of."""
        return (
            self.progress,
            self.status,
            self.rollup_progress,
            self.rollup_status,
            self.state,
            self.score,
        )


@dataclass(frozen=True, slots=True)
class KrProgressed:
    """A KR's numbers moved (or it was created or touched): `lodestar.kr.progress.v1`."""

    key_result: KeyResultState
    previous_status: str | None
    source: str


@dataclass(frozen=True, slots=True)
class KrGraduated:
    """A linked KR met its target for enough consecutive periods and closed as achieved: its
    KPI takes `target` (or the bounds) as a guardrail, good in `direction` (None: between the
    bounds). `lodestar.kr.graduated.v1`."""

    key_result: KeyResultState
    target: float
    direction: str | None
    pace: link.Pace
    """What the guardrail asks of each KPI period (a cumulative KR's numbers spread over its
    window's periods)."""


@dataclass(frozen=True, slots=True)
class ObjectiveChanged:
    """An objective's numbers, state or score moved (or it was created or touched):
    `lodestar.objective.changed.v1`."""

    objective: ObjectiveState
    previous_status: str | None


Event = KrProgressed | KrGraduated | ObjectiveChanged


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a re-evaluation decided: every KR and objective of the cycle as it now stands (in
    the order given), the ids whose change is announced (their `updated_at` moves), and the
    events, in the order they are to be published."""

    key_results: dict[str, KeyResultState]
    objectives: dict[str, ObjectiveState]
    changed: frozenset[str]
    events: tuple[Event, ...]


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


def _judge_kr(
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


def _judge_objectives(
    objectives: Sequence[ObjectiveState],
    key_results: Iterable[KeyResultState],
    *,
    frozen: bool,
    closed: bool,
    closing: bool,
) -> dict[str, ObjectiveState]:
    """Each objective's own progress, status and score from its KRs, then the roll-up over
    its aligned children (children first)."""
    by_objective: dict[str, list[KeyResultState]] = {o.id: [] for o in objectives}
    for kr in key_results:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    children: dict[str, list[str]] = {o.id: [] for o in objectives}
    for o in objectives:
        if o.parent_id in children:
            children[o.parent_id].append(o.id)

    judged: dict[str, ObjectiveState] = {}
    for o in objectives:
        own = by_objective.get(o.id, [])
        weights = [kr.weight for kr in own]
        if not frozen:
            o = replace(
                o,
                progress=p.objective_progress([kr.progress for kr in own], weights),
                status=p.objective_status([p.Status(kr.status) for kr in own]).value,
                state="closed" if closing else o.state,
            )
        if closed and not o.score_overridden:
            scores = [kr.score if kr.score is not None else 0.0 for kr in own]
            o = replace(o, score=scoring.objective_score(scores, weights))
        judged[o.id] = o
    return judged if frozen else _roll_up(judged, children, by_objective)


def _roll_up(
    judged: dict[str, ObjectiveState],
    children: dict[str, list[str]],
    by_objective: dict[str, list[KeyResultState]],
) -> dict[str, ObjectiveState]:
    """Each objective's roll-up over its aligned children, children first."""
    done: set[str] = set()

    def roll(oid: str, path: frozenset[str]) -> None:
        if oid in done or oid in path:  # `path`: a loop (refused on write) cannot recurse
            return
        for child in children[oid]:
            roll(child, path | {oid})
        o = judged[oid]
        own_krs = bool(by_objective.get(oid))
        kids = [judged[c] for c in children[oid]]
        judged[oid] = replace(
            o,
            rollup_progress=p.rollup_progress(
                o.progress if own_krs else None, [k.rollup_progress for k in kids]
            ),
            rollup_status=p.rollup_status(
                p.Status(o.status) if own_krs else None,
                [p.Status(k.rollup_status) for k in kids],
            ).value,
        )
        done.add(oid)

    for oid in judged:
        roll(oid, frozenset())
    return judged


def _graduation(kr: KeyResultState, tz: str) -> KrGraduated:
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
    scores move. A KR or objective is announced when a number of it moved (`numbers()`), or it
    is in `change.created` (with no previous status) or `change.touched`. Events: every KR's
    progress first, then the graduations, then every objective's change.
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
            kr, graduates = _judge_kr(
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
    judged_objectives = _judge_objectives(
        objectives, judged_krs.values(), frozen=frozen, closed=closed, closing=change.closing
    )

    announced = {*change.created, *change.touched}
    changed: set[str] = set()
    progressed: list[Event] = []
    for before in key_results:
        kr = judged_krs[before.id]
        if kr.id in announced or before.numbers() != kr.numbers():
            changed.add(kr.id)
            previous = None if kr.id in change.created else before.status
            progressed.append(KrProgressed(kr, previous_status=previous, source=change.source))
    moved: list[Event] = []
    for before_o in objectives:
        o = judged_objectives[before_o.id]
        if o.id in announced or before_o.numbers() != o.numbers():
            changed.add(o.id)
            previous = None if o.id in change.created else before_o.status
            moved.append(ObjectiveChanged(o, previous_status=previous))
    return Outcome(
        key_results=judged_krs,
        objectives=judged_objectives,
        changed=frozenset(changed),
        events=(*progressed, *(_graduation(kr, cycle.timezone) for kr in graduated), *moved),
    )
