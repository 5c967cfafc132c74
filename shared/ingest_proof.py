"""Tenant proofs on `kpi.measurements`: which tenant a producer may write for.

Every external producer shares one broker permission (write `kpi.measurements`), and the
tenant is a field of the envelope, so the broker cannot tell tenant A's producer writing for
tenant B. Each record therefore carries a signature header made with one of the tenant's API
keys (scope write or admin):

    lodestar-signature: v1,<key_id>,<base64 HMAC-SHA256 of the record's value>

The HMAC key is the SHA-256 hex of the key's secret (`shared.auth.hash_secret`), which every
service already holds for the keys it knows, so metrics verifies without learning secrets, and
revoking or rotating the API key revokes or rotates the producer's proof with it. A record
without a valid proof for its envelope's tenant is dead-lettered with the reason (README
"Security", "### Kafka"). HTTP ingest signs the records it produces with the caller's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Scope, hash_secret, parse_key, parse_scopes
from shared.tables import api_keys

HEADER = "lodestar-signature"
VERSION = "v1"
_INGEST_SCOPES = {Scope.WRITE, Scope.ADMIN}


def _mac(secret_hash: str, value: bytes) -> bytes:
    return hmac.new(secret_hash.encode(), value, hashlib.sha256).digest()


def signature(key_id: str, secret_hash: str, value: bytes) -> tuple[str, bytes]:
    """The header proving that the key `key_id` (with this secret hash) signed `value`."""
    mac = base64.b64encode(_mac(secret_hash, value)).decode()
    return HEADER, f"{VERSION},{key_id},{mac}".encode()


def sign(api_key: str, value: bytes) -> tuple[str, bytes]:
    """The header for a record produced with the full API key `lsk_<id>_<secret>`."""
    key_id, secret = parse_key(api_key)
    return signature(key_id, hash_secret(secret), value)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    tenant: str
    secret_hash: str
    scopes: frozenset[Scope]
    revoked: bool


def claimed_key(headers: Iterable[tuple[str, bytes]]) -> str | None:
    """The key id a record's signature header names (None without a well-formed one)."""
    for name, raw in headers:
        if name == HEADER:
            parts = raw.decode("utf-8", "replace").split(",")
            return parts[1] if len(parts) == 3 and parts[0] == VERSION else None
    return None


def refusal(
    tenant: str, value: bytes, headers: Iterable[tuple[str, bytes]], keys: Mapping[str, KeyInfo]
) -> str | None:
    """Why the record is not proven to be `tenant`'s (None when it is)."""
    found = [raw for name, raw in headers if name == HEADER]
    if not found:
        return f"no tenant proof: a {HEADER} header signed with a write key of the tenant"
    parts = found[0].decode("utf-8", "replace").split(",")
    if len(found) > 1 or len(parts) != 3 or parts[0] != VERSION:
        return f"invalid tenant proof: the {HEADER} header must be one '{VERSION},<key id>,<mac>'"
    key_id, mac = parts[1], parts[2]
    key = keys.get(key_id)
    if key is None or key.revoked:
        return "tenant proof refused: the signing key is unknown or revoked"
    if key.tenant != tenant:
        return f"tenant proof refused: the signing key is not a key of tenant {tenant!r}"
    if not key.scopes & _INGEST_SCOPES:
        return "tenant proof refused: the signing key has no write scope"
    try:
        given = base64.b64decode(mac, validate=True)
    except ValueError:
        return "invalid tenant proof: the signature is not base64"
    if not hmac.compare_digest(given, _mac(key.secret_hash, value)):
        return "tenant proof refused: the signature does not match the record"
    return None


async def load_keys(session: AsyncSession, key_ids: Iterable[str]) -> dict[str, KeyInfo]:
    """The keys a batch's proofs name, as this service knows them."""
    wanted = sorted(set(key_ids))
    if not wanted:
        return {}
    rows = await session.execute(select(api_keys).where(api_keys.c.key_id.in_(wanted)))
    return {
        row.key_id: KeyInfo(
            tenant=row.tenant,
            secret_hash=row.secret_hash,
            scopes=parse_scopes(row.scopes),
            revoked=row.revoked_at is not None,
        )
        for row in rows
    }
