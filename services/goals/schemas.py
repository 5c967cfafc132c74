"""API shapes of the goals service: <Thing>Create / <Thing>Update / <Thing>Read.

Request models are strict (JSON `false` is no number) and refuse unknown fields; timestamps are
RFC 3339 with a timezone, from 1970 to 3000. `shared.bounds` holds for every request: no NUL or
lone surrogate in any string, every number within ±1e15.

One module over the ~450-line guideline on purpose: 35 declarations and no logic, one per
request or answer shape of the goals API, read side by side with `routes/` (splitting by
resource would only scatter the shared field types below).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, field_validator

from shared.auth import BOOTSTRAP_KEY_NAME, Scope
from shared.bounds import BoundedFloat, SafeText
from shared.events import Slug, TimestampIn, Timezone

# ---------------------------------------------------------------- API keys


class ApiKeyCreate(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    # Enums arrive as strings: strict models need them lax, per field.
    scopes: list[Annotated[Scope, Strict(False)]] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.strip().lower() == BOOTSTRAP_KEY_NAME:
            raise ValueError(f"'{BOOTSTRAP_KEY_NAME}' names the keys from settings only")
        return value


class ApiKeyRead(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyRead):
    key: str = Field(description="The full key; shown once, never stored")


# ---------------------------------------------------------------- the tenant


class TenantUpdate(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: Timezone | None = Field(
        default=None,
        description="IANA name (e.g. Europe/Berlin): the zone the KPI periods follow from now "
        "on; periods stored already keep the bounds they were rolled up with",
    )


class TenantRead(BaseModel):
    slug: str
    name: str
    timezone: str = Field(description="The zone every day, week, month and quarter follows")


# ---------------------------------------------------------------- common

Timestamp = TimestampIn
Name = Annotated[str, Field(min_length=1, max_length=200)]
Title = Annotated[str, Field(min_length=1, max_length=300)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
CycleState = Literal["planning", "active", "closed"]
TeamKind = Literal["company", "department", "team"]
Level = Literal["company", "team", "individual"]
OwnerType = Literal["person", "team"]
CommitmentName = Literal["committed", "aspirational"]
ObjectiveState = Literal["open", "closed"]
KrKindName = Literal[
    "increase", "decrease", "keep_above", "keep_below", "keep_between", "milestone"
]
StatusName = Literal["not_started", "on_track", "at_risk", "off_track", "achieved", "stale"]
InitiativeStatus = Literal["planned", "in_progress", "done", "cancelled"]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("weight must be positive")
    return value


Weight = Annotated[BoundedFloat, AfterValidator(_positive)]


class _Request(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid")


# ---------------------------------------------------------------- cycles


class CycleCreate(_Request):
    name: Annotated[str, Field(min_length=1, max_length=100, examples=["2026-Q4"])]
    starts_at: Timestamp
    ends_at: Timestamp


class CycleUpdate(_Request):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None


class CycleRead(BaseModel):
    id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    state: CycleState
    created_at: datetime
    closed_at: datetime | None


# ---------------------------------------------------------------- teams


class TeamCreate(_Request):
    name: Name
    kind: TeamKind = "team"
    parent_id: str | None = None


class TeamUpdate(_Request):
    name: Name | None = None
    kind: TeamKind | None = None
    parent_id: str | None = Field(
        default=None, description="The new parent team; send null explicitly to detach"
    )


class TeamRead(BaseModel):
    id: str
    name: str
    kind: TeamKind
    parent_id: str | None
    created_at: datetime


class MemberPut(_Request):
    role: Literal["member", "lead"] = "member"


class MemberRead(BaseModel):
    person: str
    role: str
    added_at: datetime


# ---------------------------------------------------------------- objectives


class ObjectiveCreate(_Request):
    cycle_id: str
    title: Title
    description: str = Field(default="", max_length=10_000, description="The outcome sought")
    owner_type: OwnerType = "person"
    owner: Name = Field(description="A person's id, or a team id when owner_type is team")
    team_id: str | None = Field(
        default=None, description="The team it belongs to (default: the owner, if a team)"
    )
    level: Level = "individual"
    parent_id: str | None = Field(
        default=None, description="The objective this aligns under (same cycle)"
    )
    commitment: CommitmentName = "aspirational"


class ObjectiveUpdate(_Request):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    owner_type: OwnerType | None = None
    owner: Name | None = None
    team_id: str | None = None
    level: Level | None = None
    parent_id: str | None = Field(
        default=None, description="The new parent objective; send null explicitly to detach"
    )
    commitment: CommitmentName | None = None


class ScoreOverride(_Request):
    score: Annotated[BoundedFloat, Field(ge=0.0, le=1.0)]
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class CarryOver(_Request):
    cycle_id: str = Field(description="The cycle to carry the objective into (not closed)")


class ObjectiveRead(BaseModel):
    id: str
    cycle_id: str
    title: str
    description: str
    owner_type: OwnerType
    owner: str
    team_id: str | None
    level: Level
    parent_id: str | None
    commitment: CommitmentName
    state: ObjectiveState
    progress: float = Field(description="Weighted mean of its KRs' clamped progress, 0.0-1.0")
    status: StatusName = Field(description="Its weakest judged KR's status")
    rollup_progress: float = Field(description="Progress including aligned child objectives")
    rollup_status: StatusName
    score: float | None = Field(description="0.0-1.0, set when the cycle closes")
    score_note: str | None
    score_overridden: bool
    carried_from_id: str | None
    carried_to_id: str | None
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- key results


KpiAggregation = Literal["sum", "avg", "min", "max", "last", "count"]
GraduationPeriods = Annotated[int, Field(ge=1, le=1000)]
LINK_DOC = (
    "A KPI key: the KR's current value then follows the KPI's values (checked against the "
    "metrics service: 422 if unknown, 503 if metrics is unreachable). Not for milestones."
)
AGGREGATION_DOC = (
    "How a linked KR folds the KPI's period values over its window: last (default: the "
    "latest period), sum, avg, min, max, or count (measurements)"
)


class KeyResultCreate(_Request):
    """A key result. `increase`/`decrease`: `start` and `target` (target ≠ start; increase
    needs target > start, decrease target < start). `keep_above`: holds while current ≥
    `target`; `keep_below`: while current ≤ `target`; `keep_between`: while `bound_low` ≤
    current ≤ `bound_high` — every bound is inclusive. `milestone`: done or not."""

    title: Title
    description: str = Field(default="", max_length=10_000)
    kind: KrKindName
    unit: str = Field(default="", max_length=32)
    start: BoundedFloat | None = None
    target: BoundedFloat | None = None
    bound_low: BoundedFloat | None = None
    bound_high: BoundedFloat | None = None
    weight: Weight = 1.0
    owner: Name | None = None
    starts_at: Timestamp | None = Field(
        default=None, description="Start of the KR's window (default: the cycle's start)"
    )
    due_at: Timestamp | None = Field(
        default=None, description="Due date, end of the window (default: the cycle's end)"
    )
    confidence: Share | None = None
    kpi: Slug | None = Field(default=None, description=LINK_DOC)
    kpi_aggregation: KpiAggregation | None = Field(default=None, description=AGGREGATION_DOC)
    graduation_periods: GraduationPeriods | None = None


class KeyResultUpdate(_Request):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    unit: str | None = Field(default=None, max_length=32)
    start: BoundedFloat | None = None
    target: BoundedFloat | None = None
    bound_low: BoundedFloat | None = None
    bound_high: BoundedFloat | None = None
    weight: Weight | None = None
    owner: Name | None = None
    starts_at: Timestamp | None = None
    due_at: Timestamp | None = None
    confidence: Share | None = None
    kpi: Slug | None = Field(
        default=None, description=LINK_DOC + " Send null explicitly to unlink."
    )
    kpi_aggregation: KpiAggregation | None = Field(default=None, description=AGGREGATION_DOC)
    graduation_periods: GraduationPeriods | None = None


class KeyResultRead(BaseModel):
    id: str
    objective_id: str
    cycle_id: str
    title: str
    description: str
    kind: KrKindName
    unit: str
    start: float | None
    target: float | None
    bound_low: float | None
    bound_high: float | None
    current: float | None
    done: bool
    weight: float
    owner: str | None
    starts_at: datetime
    due_at: datetime
    confidence: float | None
    kpi: str | None
    kpi_aggregation: str | None
    kpi_period: str | None = Field(description="The linked KPI's period (day, week, ...)")
    kpi_last_at: datetime | None = Field(
        description="When the linked KPI's latest measurement was observed"
    )
    periods_met: int | None = Field(
        description="Linked KRs: consecutive most recent completed KPI periods that met the KR"
    )
    periods_elapsed: int | None = Field(
        description="Linked KRs: completed KPI periods in the KR's window"
    )
    graduation_periods: int | None = Field(
        description="Met periods in a row that graduate this KR (null: the service default)"
    )
    state: Literal["open", "graduated"] = Field(
        description="graduated: met long enough, closed as achieved (score 1.0)"
    )
    graduated_at: datetime | None
    promoted_from_kpi: str | None = Field(description="The KPI this KR was promoted from")
    promoted_at: datetime | None
    promoted_start: float | None = Field(description="The KPI's value when it was promoted")
    progress: float = Field(description="Clamped to 0.0-1.0")
    raw_progress: float = Field(description="Unclamped: 1.25 means 125 % (over-achieved)")
    expected: float | None = Field(description="Elapsed share of the window at the last change")
    status: StatusName
    score: float | None
    score_note: str | None
    score_overridden: bool
    created_at: datetime
    updated_at: datetime


class ObjectiveNew(_Request):
    """A new objective for a promoted KR, in the promotion's cycle."""

    title: Title
    description: str = Field(default="", max_length=10_000)
    owner_type: OwnerType = "person"
    owner: Name
    team_id: str | None = None
    level: Level = "individual"
    parent_id: str | None = None
    commitment: CommitmentName = "aspirational"


class KeyResultPromote(_Request):
    """Promote a KPI into a key result of `cycle_id`: its start is the KPI's current value and
    it stays linked to the KPI. Give `objective_id` (an objective of that cycle) or `objective`
    (a new one), not both. `kind` defaults from the KPI's direction (higher → increase, lower
    → decrease); keep_between takes `bound_low`/`bound_high` instead of `target`."""

    kpi: Slug
    cycle_id: str
    target: BoundedFloat | None = None
    bound_low: BoundedFloat | None = None
    bound_high: BoundedFloat | None = None
    objective_id: str | None = None
    objective: ObjectiveNew | None = None
    title: Title | None = Field(default=None, description="Default: from the KPI and target")
    kind: Literal["increase", "decrease", "keep_above", "keep_below", "keep_between"] | None = None
    kpi_aggregation: KpiAggregation | None = Field(default=None, description=AGGREGATION_DOC)
    weight: Weight = 1.0
    owner: Name | None = None
    graduation_periods: GraduationPeriods | None = None


# ---------------------------------------------------------------- check-ins


class CheckInCreate(_Request):
    """A new value (`value` for numeric kinds, `done` for milestones), with confidence/note."""

    value: BoundedFloat | None = None
    done: bool | None = None
    confidence: Share | None = None
    note: str = Field(default="", max_length=10_000)
    author: Name | None = Field(default=None, description="Default: the calling key's id")


class CheckInRead(BaseModel):
    id: str
    key_result_id: str
    value: float | None
    done: bool | None
    confidence: float | None
    note: str
    author: str
    source: Literal["manual", "kpi"]
    at: datetime
    progress: float
    raw_progress: float
    status: StatusName


# ---------------------------------------------------------------- initiatives


class InitiativeCreate(_Request):
    title: Title
    description: str = Field(default="", max_length=10_000)
    owner: Name | None = None
    status: InitiativeStatus = "planned"
    due_at: Timestamp | None = None


class InitiativeUpdate(_Request):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    owner: Name | None = None
    status: InitiativeStatus | None = None
    due_at: Timestamp | None = None


class InitiativeRead(BaseModel):
    id: str
    key_result_id: str
    title: str
    description: str
    owner: str | None
    status: InitiativeStatus
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- views


class ObjectiveDetail(ObjectiveRead):
    key_results: list[KeyResultRead]


class AlignmentNode(BaseModel):
    objective: ObjectiveRead
    children: list[AlignmentNode]


class AlignmentTree(BaseModel):
    cycle_id: str
    roots: list[AlignmentNode]


class RetroObjective(BaseModel):
    objective: ObjectiveRead
    stretch_line: float = Field(description="0.7 aspirational, 1.0 committed")
    outcome: Literal["achieved", "missed", "carried_over"]
    key_results: list[KeyResultRead]


class Retrospective(BaseModel):
    cycle: CycleRead
    achieved: list[RetroObjective]
    missed: list[RetroObjective]
    carried_over: list[RetroObjective]
    average_score: float | None


class Scorecard(BaseModel):
    team: TeamRead
    cycle_id: str
    progress: float = Field(description="Mean roll-up progress of the team's objectives")
    status: StatusName = Field(description="The weakest roll-up status of its objectives")
    status_counts: dict[str, int]
    objectives: list[ObjectiveRead] = Field(description="Objectives of the team and sub-teams")
    sub_teams: list[TeamRead]
