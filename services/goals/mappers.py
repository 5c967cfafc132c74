"""Every mapping of the goals service between its layers, in one place: tables → API shapes
(`<Thing>Read`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row

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


def cycle_read(cycle: Cycle) -> CycleRead:
    return CycleRead.model_validate(cycle, from_attributes=True)


def team_read(team: Team) -> TeamRead:
    return TeamRead.model_validate(team, from_attributes=True)


def member_read(member: TeamMember) -> MemberRead:
    return MemberRead.model_validate(member, from_attributes=True)


def objective_read(objective: Objective) -> ObjectiveRead:
    return ObjectiveRead.model_validate(objective, from_attributes=True)


def objective_detail(objective: Objective, key_results: Sequence[KeyResult]) -> ObjectiveDetail:
    return ObjectiveDetail(
        **objective_read(objective).model_dump(), key_results=[kr_read(k) for k in key_results]
    )


def kr_read(kr: KeyResult) -> KeyResultRead:
    return KeyResultRead.model_validate(kr, from_attributes=True)


def check_in_read(entry: CheckIn) -> CheckInRead:
    return CheckInRead.model_validate(entry, from_attributes=True)


def initiative_read(initiative: Initiative) -> InitiativeRead:
    return InitiativeRead.model_validate(initiative, from_attributes=True)


def api_key_read(row: Row[tuple[object, ...]]) -> ApiKeyRead:
    """A row of `shared.tables.api_keys` (its scopes stored as one comma-separated string)."""
    return ApiKeyRead(
        key_id=row.key_id,
        name=row.name,
        scopes=sorted(parse_scopes(row.scopes)),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
