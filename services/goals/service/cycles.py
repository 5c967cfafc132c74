"""Cycles: planning → active → closed. Closing freezes progress into scores; a closed cycle
takes no more edits (409), only score overrides. Also the cycle-wide views: the alignment tree
and the retrospective."""

from __future__ import annotations

from datetime import datetime

from services.goals import mappers
from services.goals.domain import scoring
from services.goals.errors import (
    CycleClosed,
    CycleNotFound,
    CycleTransition,
    InvalidCycle,
    NameTaken,
    NotClosed,
    WindowOutsideCycle,
)
from services.goals.repository import cycles as repo
from services.goals.repository import key_results as kr_repo
from services.goals.repository import objectives as objective_repo
from services.goals.schemas import (
    AlignmentNode,
    AlignmentTree,
    CycleCreate,
    CycleRead,
    CycleUpdate,
    RetroObjective,
    Retrospective,
    ScoreOverride,
)
from services.goals.service.context import Write
from services.goals.service.evaluation import Change, reevaluate
from services.goals.settings import GoalsSettings
from services.goals.tables import Cycle, KeyResult, Objective, new_id
from shared.db import AsyncSession
from shared.errors import found
from shared.pagination import Page, PageQuery, page_of

_NEXT = {"planning": "active", "active": "closed"}


async def load(
    session: AsyncSession, tenant: str, cycle_id: str, *, for_update: bool = False
) -> Cycle:
    return found(
        await repo.get(session, tenant, cycle_id, for_update=for_update),
        CycleNotFound(f"no cycle '{cycle_id}'"),
    )


async def load_open(session: AsyncSession, tenant: str, cycle_id: str) -> Cycle:
    """The cycle, locked for this write, refusing (409) if it is closed: nothing in a closed
    cycle may change."""
    cycle = await load(session, tenant, cycle_id, for_update=True)
    if cycle.state == "closed":
        raise CycleClosed(f"cycle '{cycle.name}' is closed; its objectives can no longer change")
    return cycle


async def get(session: AsyncSession, tenant: str, cycle_id: str) -> CycleRead:
    return mappers.cycle_read(await load(session, tenant, cycle_id))


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, *, state: str | None
) -> Page[CycleRead]:
    return page_of(await repo.page(session, tenant, query, state=state), mappers.cycle_read)


def _check_window(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidCycle("a cycle must end after it starts (ends_at > starts_at)")


async def create(write: Write, body: CycleCreate) -> CycleRead:
    _check_window(body.starts_at, body.ends_at)
    await _check_name(write, body.name)
    cycle = Cycle(
        **body.model_dump(),
        id=new_id(),
        tenant=write.tenant,
        state="planning",
        created_at=write.now,
    )
    write.session.add(cycle)
    await write.session.flush()
    return mappers.cycle_read(cycle)


async def _check_name(write: Write, name: str) -> None:
    if await repo.by_name(write.session, write.tenant, name) is not None:
        raise NameTaken(f"a cycle named '{name}' exists")


async def update(write: Write, cycle_id: str, body: CycleUpdate) -> CycleRead:
    session, tenant = write.session, write.tenant
    cycle = await load_open(session, tenant, cycle_id)
    if body.name is not None and body.name != cycle.name:
        await _check_name(write, body.name)
        cycle.name = body.name
    starts_at = body.starts_at or cycle.starts_at
    ends_at = body.ends_at or cycle.ends_at
    _check_window(starts_at, ends_at)
    if (starts_at, ends_at) != (cycle.starts_at, cycle.ends_at):
        for kr in await kr_repo.in_cycle(session, tenant, cycle.id):
            if kr.starts_at < starts_at or kr.due_at > ends_at:
                raise WindowOutsideCycle(
                    f"key result '{kr.title}' runs {kr.starts_at.isoformat()} to "
                    f"{kr.due_at.isoformat()}, outside the new dates; move it first"
                )
        cycle.starts_at, cycle.ends_at = starts_at, ends_at
        await reevaluate(session, write.settings, cycle, write.now)
    await session.flush()
    return mappers.cycle_read(cycle)


async def transition(write: Write, cycle_id: str, to: str) -> CycleRead:
    """planning → active → closed, one step at a time; closing scores every KR and objective."""
    session, settings, now = write.session, write.settings, write.now
    cycle = await load(session, write.tenant, cycle_id, for_update=True)
    if _NEXT.get(cycle.state) != to:
        raise CycleTransition(f"cycle '{cycle.name}' is {cycle.state}; it cannot become {to}")
    if to == "closed":
        cycle.closed_at = now
        await reevaluate(session, settings, cycle, now, Change(closing=True))
    cycle.state = to
    await session.flush()
    if to == "active":
        await reevaluate(session, settings, cycle, now)
    return mappers.cycle_read(cycle)


async def refresh(write: Write, cycle_id: str) -> CycleRead:
    """Re-judge every status against the pace at `now` (time alone moves a status)."""
    cycle = await load_open(write.session, write.tenant, cycle_id)
    await reevaluate(write.session, write.settings, cycle, write.now)
    return mappers.cycle_read(cycle)


async def grade(
    write: Write, row: Objective | KeyResult, body: ScoreOverride, change: Change = Change()
) -> None:
    """Score `row` (an objective or a KR) by hand, with a note saying why, once its cycle is
    closed (409 before), and re-evaluate the cycle: `change` tells it what was touched."""
    cycle = await load(write.session, write.tenant, row.cycle_id, for_update=True)
    if cycle.state != "closed":
        raise NotClosed("scores are set when the cycle closes; close it first")
    row.score, row.score_note, row.score_overridden = round(body.score, 2), body.note, True
    await reevaluate(write.session, write.settings, cycle, write.now, change)


async def open_cycles(session: AsyncSession) -> list[tuple[str, str]]:
    """(tenant, id) of every cycle of every tenant that is not closed: the timer's work."""
    return await repo.open_ids(session)


async def refresh_by_timer(
    session: AsyncSession, settings: GoalsSettings, tenant: str, cycle_id: str, now: datetime
) -> bool:
    """`refresh` for the status timer: a cycle closed (or gone) since the timer listed it is
    skipped, not refused; returns whether the cycle was re-evaluated."""
    cycle = await repo.get(session, tenant, cycle_id, for_update=True)
    if cycle is None or cycle.state == "closed":
        return False
    await reevaluate(session, settings, cycle, now, Change(source="time"))
    return True


async def alignment(session: AsyncSession, tenant: str, cycle_id: str) -> AlignmentTree:
    """The cycle's objectives as a forest: roots are those without a parent in the cycle."""
    cycle = await load(session, tenant, cycle_id)
    objectives = await objective_repo.in_cycle(session, tenant, cycle.id)
    ids = {o.id for o in objectives}
    kids: dict[str | None, list[Objective]] = {}
    for o in objectives:
        parent = o.parent_id if o.parent_id in ids else None
        kids.setdefault(parent, []).append(o)

    def node(o: Objective, path: frozenset[str]) -> AlignmentNode:
        below = [c for c in kids.get(o.id, []) if c.id not in path]
        return AlignmentNode(
            objective=mappers.objective_read(o), children=[node(c, path | {o.id}) for c in below]
        )

    return AlignmentTree(
        cycle_id=cycle.id, roots=[node(o, frozenset()) for o in kids.get(None, [])]
    )


async def retrospective(session: AsyncSession, tenant: str, cycle_id: str) -> Retrospective:
    """Achieved / missed / carried over, by each objective's score against its stretch line.

    Before the cycle closes the scores are not frozen yet: the view then reads 409.
    """
    cycle = await load(session, tenant, cycle_id)
    if cycle.state != "closed":
        raise NotClosed(f"cycle '{cycle.name}' is {cycle.state}; close it to see its retrospective")
    objectives = await objective_repo.in_cycle(session, tenant, cycle.id)
    krs = await kr_repo.of_objectives(session, tenant, [o.id for o in objectives])
    groups: dict[str, list[RetroObjective]] = {o.value: [] for o in scoring.Outcome}
    scores = []
    for o in objectives:
        commitment = scoring.Commitment(o.commitment)
        score = o.score if o.score is not None else 0.0
        scores.append(score)
        result = scoring.outcome(score, commitment, carried_over=o.carried_to_id is not None)
        groups[result.value].append(
            RetroObjective(
                objective=mappers.objective_read(o),
                stretch_line=scoring.STRETCH_LINE[commitment],
                outcome=result.value,
                key_results=[mappers.kr_read(k) for k in krs if k.objective_id == o.id],
            )
        )
    return Retrospective(
        cycle=mappers.cycle_read(cycle),
        achieved=groups["achieved"],
        missed=groups["missed"],
        carried_over=groups["carried_over"],
        average_score=round(sum(scores) / len(scores), 2) if scores else None,
    )
