"""Every mapping of the goals service between its layers, in one place: tables → API shapes
(`<Thing>Read`); tables ⇄ the values the domain re-evaluates; the domain's events → the event
contracts of `shared.events`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Row

from services.goals.domain import evaluation as ev
from services.goals.domain import progress as p
from services.goals.schemas import (
    ApiKeyRead,
    CheckInRead,
    CycleRead,
    InitiativeRead,
    KeyResultRead,
    MemberRead,
    ObjectiveDetail,
    ObjectiveRead,
    TeamRead,
)
from services.goals.tables import CheckIn, Cycle, Initiative, KeyResult, Objective, Team, TeamMember
from shared.auth import parse_scopes
from shared.events import (
    KR_GRADUATED_V1,
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    CloudEvent,
    KrGraduatedV1,
    finite,
    new_event,
    own_event,
)

# ---------------------------------------------------------------- tables → API shapes

Shape = TypeVar("Shape", bound=BaseModel)


def _reader(shape: type[Shape]) -> Callable[[object], Shape]:
    """A row → its API `shape`, each field read off the row's attribute of that name."""
    return partial(shape.model_validate, from_attributes=True)


cycle_read: Callable[[Cycle], CycleRead] = _reader(CycleRead)
team_read: Callable[[Team], TeamRead] = _reader(TeamRead)
member_read: Callable[[TeamMember], MemberRead] = _reader(MemberRead)
objective_read: Callable[[Objective], ObjectiveRead] = _reader(ObjectiveRead)
kr_read: Callable[[KeyResult], KeyResultRead] = _reader(KeyResultRead)
check_in_read: Callable[[CheckIn], CheckInRead] = _reader(CheckInRead)
initiative_read: Callable[[Initiative], InitiativeRead] = _reader(InitiativeRead)


def objective_detail(objective: Objective, key_results: Sequence[KeyResult]) -> ObjectiveDetail:
    return ObjectiveDetail(
        **objective_read(objective).model_dump(), key_results=[kr_read(k) for k in key_results]
    )


def api_key_read(row: Row[tuple[object, ...]]) -> ApiKeyRead:
    """A row of `shared.tables.api_keys` (its scopes stored as one comma-separated string)."""
    return ApiKeyRead(
        key_id=row.key_id,
        name=row.name,
        scopes=sorted(parse_scopes(row.scopes)),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


# ---------------------------------------------------------------- tables ⇄ domain values


def kr_spec(kr: KeyResult) -> p.KeyResultSpec:
    return p.KeyResultSpec(
        kind=p.KrKind(kr.kind),
        start=kr.start,
        target=kr.target,
        bound_low=kr.bound_low,
        bound_high=kr.bound_high,
        current=kr.current,
        done=kr.done,
    )


def cycle_view(cycle: Cycle, tz: str) -> ev.CycleView:
    """The cycle as a re-evaluation reads it; `tz`: its tenant's timezone."""
    return ev.CycleView(state=cycle.state, closed_at=cycle.closed_at, timezone=tz)


def kr_state(kr: KeyResult | Row[Any]) -> ev.KeyResultState:
    """`kr`: a row, or a plain row of its columns (`key_results.following`)."""
    return ev.KeyResultState(
        id=kr.id,
        objective_id=kr.objective_id,
        cycle_id=kr.cycle_id,
        title=kr.title,
        kind=kr.kind,
        start=kr.start,
        target=kr.target,
        bound_low=kr.bound_low,
        bound_high=kr.bound_high,
        current=kr.current,
        done=kr.done,
        weight=kr.weight,
        starts_at=kr.starts_at,
        due_at=kr.due_at,
        kpi=kr.kpi,
        kpi_aggregation=kr.kpi_aggregation,
        kpi_period=kr.kpi_period,
        kpi_cadence_s=kr.kpi_cadence_s,
        kpi_last_at=kr.kpi_last_at,
        periods_met=kr.periods_met,
        periods_elapsed=kr.periods_elapsed,
        graduation_periods=kr.graduation_periods,
        state=kr.state,
        graduated_at=kr.graduated_at,
        progress=kr.progress,
        raw_progress=kr.raw_progress,
        expected=kr.expected,
        status=kr.status,
        score=kr.score,
        score_overridden=kr.score_overridden,
    )


def objective_state(o: Objective | Row[Any]) -> ev.ObjectiveState:
    """`o`: a row, or a plain row of its columns (`objectives.states_in_cycle`)."""
    return ev.ObjectiveState(
        id=o.id,
        cycle_id=o.cycle_id,
        title=o.title,
        parent_id=o.parent_id,
        team_id=o.team_id,
        state=o.state,
        progress=o.progress,
        status=o.status,
        rollup_progress=o.rollup_progress,
        rollup_status=o.rollup_status,
        score=o.score,
        score_overridden=o.score_overridden,
        kr_totals=o.kr_totals,
    )


# What a re-evaluation may change, written back onto the rows (only what differs, so an
# unchanged row is not even marked dirty).
KR_JUDGED = (
    "current",
    "kpi_last_at",
    "periods_met",
    "periods_elapsed",
    "raw_progress",
    "progress",
    "expected",
    "status",
    "state",
    "graduated_at",
    "score",
)
OBJECTIVE_JUDGED = (
    *("progress", "status", "state", "score", "rollup_progress", "rollup_status", "kr_totals"),
)


def write_back(row: KeyResult | Objective, state: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(state, name)
        if getattr(row, name) != value:
            setattr(row, name, value)


# ---------------------------------------------------------------- domain events → contracts


def _kr_progress(event: ev.KrProgressed) -> dict[str, Any]:
    """The `KrProgressV1` of the event as its JSON dump, written out: one is announced per
    measurement of a linked KPI, and building and validating the model cost more than the
    rest of the announcement. tests/unit/goals/test_event_data.py holds it to the model."""
    kr = event.key_result
    return {
        "key_result_id": kr.id,
        "objective_id": kr.objective_id,
        "cycle_id": kr.cycle_id,
        "title": kr.title,
        "kind": kr.kind,
        "current": finite(kr.current),
        "progress": finite(kr.progress),
        "raw_progress": finite(kr.raw_progress),
        "expected": finite(kr.expected),
        "status": kr.status,
        "previous_status": event.previous_status,
        "kpi": kr.kpi,
        "source": event.source,
        "periods_met": kr.periods_met,
        "periods_elapsed": kr.periods_elapsed,
    }


def _kr_graduated(event: ev.KrGraduated) -> KrGraduatedV1:
    kr, pace = event.key_result, event.pace
    assert kr.kpi is not None
    return KrGraduatedV1(
        key_result_id=kr.id,
        kpi=kr.kpi,
        kind=kr.kind,
        target=event.target,
        bound_low=kr.bound_low,
        bound_high=kr.bound_high,
        periods_met=kr.periods_met or 0,
        direction=event.direction,
        objective_id=kr.objective_id,
        cycle_id=kr.cycle_id,
        graduated_at=kr.graduated_at,
        aggregation=kr.kpi_aggregation,
        kpi_period=kr.kpi_period,
        window_start=kr.starts_at,
        window_end=kr.due_at,
        start=kr.start,
        window_periods=pace.periods,
        period_target=pace.target,
        period_bound_low=pace.bound_low,
        period_bound_high=pace.bound_high,
        period_start_value=pace.start,
    )


def _objective_changed(event: ev.ObjectiveChanged) -> dict[str, Any]:
    """The `ObjectiveChangedV1` of the event as its JSON dump, written out (as `_kr_progress`:
    one follows most measurements of a linked KPI)."""
    o = event.objective
    return {
        "objective_id": o.id,
        "cycle_id": o.cycle_id,
        "title": o.title,
        "progress": finite(o.progress),
        "status": o.status,
        "previous_status": event.previous_status,
        "state": o.state,
        "rollup_progress": finite(o.rollup_progress),
        "rollup_status": o.rollup_status,
        "score": finite(o.score),
        "parent_id": o.parent_id,
        "team_id": o.team_id,
    }


def cloud_event(event: ev.Event, *, source: str, tenant: str, time: datetime) -> CloudEvent:
    """The CloudEvent announcing a domain event on `okr.events`, about its KR or objective."""
    match event:
        case ev.KrProgressed():
            type_, subject, data = KR_PROGRESS_V1, event.key_result.id, _kr_progress(event)
        case ev.ObjectiveChanged():
            type_, subject = OBJECTIVE_CHANGED_V1, event.objective.id
            data = _objective_changed(event)
        case ev.KrGraduated():  # rare: built and validated
            return new_event(
                type=KR_GRADUATED_V1,
                source=source,
                tenant=tenant,
                subject=event.key_result.id,
                time=time,
                data=_kr_graduated(event),
            )
    return own_event(
        type=type_, source=source, tenant=tenant, subject=subject, time=time, data=data
    )
