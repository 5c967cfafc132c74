"""Initiatives: the work (the "how") attached to a key result; not changed in a closed cycle."""

from __future__ import annotations

from services.goals import mappers
from services.goals.errors import InitiativeNotFound
from services.goals.repository import initiatives as repo
from services.goals.schemas import InitiativeCreate, InitiativeRead, InitiativeUpdate
from services.goals.service.context import Write
from services.goals.service.cycles import load_open
from services.goals.service.key_results import load as load_kr
from services.goals.tables import Initiative, new_id
from shared.db import AsyncSession
from shared.errors import found


async def load(session: AsyncSession, tenant: str, initiative_id: str) -> Initiative:
    return found(
        await repo.get(session, tenant, initiative_id),
        InitiativeNotFound(f"no initiative '{initiative_id}'"),
    )


async def get(session: AsyncSession, tenant: str, initiative_id: str) -> InitiativeRead:
    return mappers.initiative_read(await load(session, tenant, initiative_id))


async def of_key_result(session: AsyncSession, tenant: str, kr_id: str) -> list[InitiativeRead]:
    kr = await load_kr(session, tenant, kr_id)
    return [mappers.initiative_read(i) for i in await repo.of_key_result(session, tenant, kr.id)]


async def create(write: Write, kr_id: str, body: InitiativeCreate) -> InitiativeRead:
    kr = await load_kr(write.session, write.tenant, kr_id)
    await load_open(write.session, write.tenant, kr.cycle_id)
    initiative = Initiative(
        **body.model_dump(),
        id=new_id(),
        tenant=write.tenant,
        key_result_id=kr.id,
        created_at=write.now,
        updated_at=write.now,
    )
    write.session.add(initiative)
    await write.session.flush()
    return mappers.initiative_read(initiative)


async def update(write: Write, initiative_id: str, body: InitiativeUpdate) -> InitiativeRead:
    initiative = await load(write.session, write.tenant, initiative_id)
    kr = await load_kr(write.session, write.tenant, initiative.key_result_id)
    await load_open(write.session, write.tenant, kr.cycle_id)
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is not None or name in {"owner", "due_at"}:
            setattr(initiative, name, value)
    initiative.updated_at = write.now
    await write.session.flush()
    return mappers.initiative_read(initiative)
