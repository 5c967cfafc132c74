"""Teams: a hierarchy (company → department → team) with members, and a team's scorecard."""

from __future__ import annotations

from services.goals import mappers
from services.goals.domain import progress as p
from services.goals.domain.alignment import creates_cycle, subtree
from services.goals.errors import AlignmentCycle, InvalidAlignment, NameTaken, TeamNotFound
from services.goals.repository import objectives as objective_repo
from services.goals.repository import teams as repo
from services.goals.schemas import (
    MemberPut,
    MemberRead,
    Scorecard,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from services.goals.service.context import Write
from services.goals.service.cycles import load as load_cycle
from services.goals.tables import Team, TeamMember, new_id
from shared.db import AsyncSession
from shared.errors import found
from shared.pagination import Page, PageQuery, page_of


async def load(session: AsyncSession, tenant: str, team_id: str) -> Team:
    return found(await repo.get(session, tenant, team_id), TeamNotFound(f"no team '{team_id}'"))


async def get(session: AsyncSession, tenant: str, team_id: str) -> TeamRead:
    return mappers.team_read(await load(session, tenant, team_id))


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, *, parent_id: str | None
) -> Page[TeamRead]:
    found = await repo.page(session, tenant, query, parent_id=parent_id)
    return page_of(found, mappers.team_read)


async def _check_parent(
    session: AsyncSession, tenant: str, team_id: str, parent_id: str | None
) -> None:
    if parent_id is None:
        return
    if await repo.get(session, tenant, parent_id) is None:
        raise InvalidAlignment(f"no parent team '{parent_id}'")
    links = await repo.parent_links(session, tenant)
    if creates_cycle(team_id, parent_id, links.get):
        raise AlignmentCycle("a team cannot sit below itself or one of its sub-teams")


async def _check_name(write: Write, name: str) -> None:
    if await repo.by_name(write.session, write.tenant, name) is not None:
        raise NameTaken(f"a team named '{name}' exists")


async def create(write: Write, body: TeamCreate) -> TeamRead:
    await _check_name(write, body.name)
    team_id = new_id()
    await _check_parent(write.session, write.tenant, team_id, body.parent_id)
    team = Team(**body.model_dump(), id=team_id, tenant=write.tenant, created_at=write.now)
    write.session.add(team)
    await write.session.flush()
    return mappers.team_read(team)


async def update(write: Write, team_id: str, body: TeamUpdate) -> TeamRead:
    team = await load(write.session, write.tenant, team_id)
    if body.name is not None and body.name != team.name:
        await _check_name(write, body.name)
        team.name = body.name
    if body.kind is not None:
        team.kind = body.kind
    if "parent_id" in body.model_fields_set:
        await _check_parent(write.session, write.tenant, team.id, body.parent_id)
        team.parent_id = body.parent_id
    await write.session.flush()
    return mappers.team_read(team)


async def put_member(write: Write, team_id: str, person: str, body: MemberPut) -> MemberRead:
    session, tenant = write.session, write.tenant
    await load(session, tenant, team_id)
    member = await repo.get_member(session, tenant, team_id, person)
    if member is None:
        member = TeamMember(tenant=tenant, team_id=team_id, person=person, added_at=write.now)
        session.add(member)
    member.role = body.role
    await session.flush()
    return mappers.member_read(member)


async def remove_member(write: Write, team_id: str, person: str) -> None:
    await load(write.session, write.tenant, team_id)
    if not await repo.remove_member(write.session, write.tenant, team_id, person):
        raise TeamNotFound(f"'{person}' is not a member of team '{team_id}'")


async def members(session: AsyncSession, tenant: str, team_id: str) -> list[MemberRead]:
    await load(session, tenant, team_id)
    return [mappers.member_read(m) for m in await repo.members(session, tenant, team_id)]


async def scorecard(session: AsyncSession, tenant: str, team_id: str, cycle_id: str) -> Scorecard:
    """The team's objectives in a cycle, with its sub-teams' (roll-up to teams)."""
    team = await load(session, tenant, team_id)
    cycle = await load_cycle(session, tenant, cycle_id)
    links = await repo.parent_links(session, tenant)
    ids = subtree(team.id, links)
    objectives = await objective_repo.of_teams(session, tenant, cycle.id, ids)
    counts: dict[str, int] = {s.value: 0 for s in p.Status}
    for o in objectives:
        counts[o.rollup_status] = counts.get(o.rollup_status, 0) + 1
    # A parent objective's roll-up already includes its aligned children: count each subtree
    # once, from its top-most objective inside this scorecard.
    in_card = {o.id for o in objectives}
    tops = [o for o in objectives if o.parent_id not in in_card]
    return Scorecard(
        team=mappers.team_read(team),
        cycle_id=cycle.id,
        progress=p.team_progress([o.rollup_progress for o in tops]),
        status=p.objective_status([p.Status(o.rollup_status) for o in tops]).value,
        status_counts=counts,
        objectives=[mappers.objective_read(o) for o in objectives],
        sub_teams=[mappers.team_read(t) for t in await repo.all_of(session, tenant, ids[1:])],
    )
