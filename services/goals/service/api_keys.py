"""API keys: the goals service issues them. Each issue or revocation is stored here and
announced on the compacted `tenants` topic (through the outbox), from which the other services
learn it."""

from __future__ import annotations

from services.goals import mappers
from services.goals.errors import (
    ApiKeyNotFound,
    BootstrapKeyManaged,
    KeyIdCollision,
    QuotaExceeded,
)
from services.goals.repository import api_keys as repository
from services.goals.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyRead
from services.goals.settings import GoalsSettings
from shared.auth import generate_key, parse_key, parse_scopes, upsert_api_key
from shared.db import AsyncSession
from shared.errors import found
from shared.events import API_KEY_V1, ApiKeyV1, new_event, utcnow
from shared.outbox import enqueue
from shared.settings import ServiceSettings


async def list_all(session: AsyncSession, tenant: str) -> list[ApiKeyRead]:
    return [mappers.api_key_read(row) for row in await repository.list_api_keys(session, tenant)]


async def get(session: AsyncSession, tenant: str, key_id: str) -> ApiKeyRead:
    row = found(
        await repository.get_api_key(session, tenant, key_id),
        ApiKeyNotFound(f"no API key '{key_id}'"),
    )
    return mappers.api_key_read(row)


async def _announce(session: AsyncSession, key: ApiKeyV1, settings: ServiceSettings) -> None:
    if not await upsert_api_key(session, key):
        raise KeyIdCollision(f"the key id {key.key_id} is taken: ask again")
    event = new_event(
        type=API_KEY_V1,
        source=f"lodestar/{settings.service_name}",
        tenant=key.tenant,
        subject=f"key/{key.key_id}",
        data=key,
    )
    await enqueue(session, settings.topics.name(settings.topics.tenants), event)


async def issue(
    session: AsyncSession, tenant: str, body: ApiKeyCreate, settings: GoalsSettings
) -> ApiKeyIssued:
    """A new key (shown once); a tenant may hold `max_api_keys_per_tenant` not revoked."""
    quota = settings.max_api_keys_per_tenant
    if await repository.count_active(session, tenant) >= quota:
        raise QuotaExceeded(f"a tenant may have {quota} keys that are not revoked")
    full_key, key_id, secret_hash = generate_key()
    record = ApiKeyV1(
        key_id=key_id,
        tenant=tenant,
        name=body.name,
        secret_hash=secret_hash,
        scopes=sorted(set(body.scopes)),
    )
    await _announce(session, record, settings)
    issued = await get(session, tenant, key_id)
    return ApiKeyIssued(key=full_key, **issued.model_dump())


async def revoke(
    session: AsyncSession, tenant: str, key_id: str, settings: ServiceSettings
) -> ApiKeyRead:
    row = found(
        await repository.get_api_key(session, tenant, key_id),
        ApiKeyNotFound(f"no API key '{key_id}'"),
    )
    bootstrap = settings.bootstrap_admin_key
    if bootstrap is not None and parse_key(bootstrap.get_secret_value())[0] == key_id:
        # Every service installs it from settings; revoked here, it would lock out whoever
        # holds the settings (the operator). Rotating the setting replaces it everywhere.
        raise BootstrapKeyManaged(
            "the bootstrap admin key comes from LODESTAR_BOOTSTRAP_ADMIN_KEY: rotate it there"
        )
    record = ApiKeyV1(
        key_id=key_id,
        tenant=tenant,
        name=row.name,
        secret_hash=row.secret_hash,
        scopes=sorted(parse_scopes(row.scopes)),
        revoked_at=row.revoked_at or utcnow(),
    )
    await _announce(session, record, settings)
    return await get(session, tenant, key_id)
