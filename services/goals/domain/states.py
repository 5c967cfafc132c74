"""What a re-evaluation reads and writes: the policy, the cycle, the change that set it off,
the KRs' and objectives' stored numbers, and the events and outcome it decides (see
`evaluation.evaluate`, and `touched.evaluate_touched` for a batch of KPI values).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.domain.totals import KrTotals
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
    # What its own progress and status are made of (`totals`); None: not counted yet (a row
    # from before the totals were kept), counted from its KRs by the next re-evaluation.
    kr_totals: KrTotals | None = None

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
    # Of a partial re-evaluation: the objectives whose stored columns moved (an announced
    # number, or only their totals), the ones it writes back.
    rewritten: frozenset[str] = frozenset()


class KrLight(NamedTuple):
    """A KR that a partial re-evaluation does not re-judge, as its objective's numbers read it
    (the stored columns only). A tuple: a batch reads an objective's thousand of them."""

    id: str
    objective_id: str
    weight: float
    progress: float
    status: str
    score: float | None
