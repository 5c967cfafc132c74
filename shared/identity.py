"""Tenants and API keys arriving on the `tenants` topic, applied to a service's own tables."""

from __future__ import annotations

from collections.abc import Sequence

from shared.auth import upsert_api_key, upsert_tenant
from shared.db import Database
from shared.events import ApiKeyV1, TenantV1
from shared.inbound import BatchHandler, Inbound, Rejection


def identity_handler(db: Database) -> BatchHandler:
    """A batch handler that upserts tenant and API-key records; other types are refused."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        async with db.transaction() as session:
            for item in batch:
                if isinstance(item.payload, TenantV1):
                    await upsert_tenant(session, item.payload)
                elif isinstance(item.payload, ApiKeyV1):
                    if not await upsert_api_key(session, item.payload):
                        reason = f"key id {item.payload.key_id} is another key's"
                        rejected.append(Rejection(item.record, reason))
                else:
                    rejected.append(Rejection(item.record, f"unexpected type {item.event.type}"))
        return rejected

    return handle
