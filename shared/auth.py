"""API keys: tenant-scoped, hashed at rest, with read < write < admin scopes.

A key reads `lsk_<key_id>_<secret>`. Only a SHA-256 of the secret is stored (secrets are 192
random bits, so a slow hash buys nothing) and compared in constant time. Keys are issued by the
goals service and reach the others as `lodestar.apikey.v1` events; the bootstrap admin key in
settings is installed by every service at start-up; a new one revokes the one before
(`rotate_bootstrap_key`). A key id is never taken over: an event or an install whose id is
another key's (another tenant or secret) changes nothing and is refused.

    no key / unknown key / revoked key → 401
    key without the scope              → 403
    another tenant's object            → 404 (queries are always filtered by tenant)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Forbidden, Unauthorized
from shared.events import ApiKeyV1, TenantV1, utcnow
from shared.sql import dialect_insert
from shared.tables import api_keys, tenants
from shared.tenants import ensure_tenant

KEY_PREFIX = "lsk"
# The name of the keys installed from LODESTAR_BOOTSTRAP_ADMIN_KEY (reserved: the API refuses
# it for the keys it issues), by which a rotation finds the previous one.
BOOTSTRAP_KEY_NAME = "bootstrap admin"


class KeyIdTaken(Exception):
    """A key id that is already another key's."""


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key of one tenant, with its scopes."""

    tenant: str
    key_id: str
    scopes: frozenset[Scope]

    def allows(self, needed: Scope) -> bool:
        """A scope implies the ones below it: admin ⊃ write ⊃ read."""
        return any(_RANK[s] >= _RANK[needed] for s in self.scopes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> tuple[str, str, str]:
    """A new key: (the full key to hand out once, its id, its secret hash)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    return f"{KEY_PREFIX}_{key_id}_{secret}", key_id, hash_secret(secret)


def parse_key(key: str) -> tuple[str, str]:
    """Split a full key into (key_id, secret); raises Unauthorized when it is malformed."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        raise Unauthorized("malformed API key")
    return key_id, secret


def parse_scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split(",") if s)


async def authenticate(session: AsyncSession, authorization: str | None) -> Principal:
    """The principal behind an `Authorization: Bearer <key>` header."""
    if not authorization:
        raise Unauthorized("an Authorization: Bearer <api key> header is required")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    key_id, secret = parse_key(key.strip())
    row = (await session.execute(select(api_keys).where(api_keys.c.key_id == key_id))).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
        raise Unauthorized("unknown API key")
    if row.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    return Principal(tenant=row.tenant, key_id=row.key_id, scopes=parse_scopes(row.scopes))


def require(principal: Principal, scope: Scope) -> Principal:
    if not principal.allows(scope):
        raise Forbidden(f"this call needs the '{scope}' scope")
    return principal


async def upsert_tenant(session: AsyncSession, tenant: TenantV1) -> None:
    stmt = dialect_insert(session, tenants).values(
        slug=tenant.slug, name=tenant.name, timezone=tenant.timezone, created_at=utcnow()
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["slug"], set_={"name": tenant.name, "timezone": tenant.timezone}
        )
    )


async def upsert_api_key(session: AsyncSession, key: ApiKeyV1) -> bool:
    """Store a key as its event describes it; a revocation is never undone by an older event.
    False (and nothing written) when the id is another key's: another tenant or secret."""
    values = {
        "tenant": key.tenant,
        "name": key.name,
        "secret_hash": key.secret_hash,
        "scopes": ",".join(sorted(key.scopes)),
        "revoked_at": key.revoked_at,
    }
    stmt = dialect_insert(session, api_keys).values(
        key_id=key.key_id, created_at=utcnow(), **values
    )
    if key.revoked_at is None:
        values.pop("revoked_at")
    same_key = (api_keys.c.tenant == stmt.excluded.tenant) & (
        api_keys.c.secret_hash == stmt.excluded.secret_hash
    )
    result = await session.execute(
        stmt.on_conflict_do_update(index_elements=["key_id"], set_=values, where=same_key)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def install_bootstrap_key(
    session: AsyncSession, tenant: str, full_key: str, *, name: str = BOOTSTRAP_KEY_NAME
) -> None:
    """Install an admin key of `tenant` (idempotent); KeyIdTaken if its id is another key's."""
    key_id, secret = parse_key(full_key)
    await ensure_tenant(session, tenant)
    installed = await upsert_api_key(
        session,
        ApiKeyV1(
            key_id=key_id,
            tenant=tenant,
            name=name,
            secret_hash=hash_secret(secret),
            scopes=[Scope.ADMIN, Scope.WRITE, Scope.READ],
        ),
    )
    if not installed:
        raise KeyIdTaken(f"the id of LODESTAR_BOOTSTRAP_ADMIN_KEY ({key_id}) is another key's")


async def rotate_bootstrap_key(session: AsyncSession, tenant: str, full_key: str) -> list[ApiKeyV1]:
    """Install the bootstrap key from settings and revoke the tenant's earlier ones (what a
    change of LODESTAR_BOOTSTRAP_ADMIN_KEY means); returns the revocations, for the issuer
    to announce on the `tenants` topic."""
    await install_bootstrap_key(session, tenant, full_key)
    key_id, _ = parse_key(full_key)
    earlier = (
        await session.execute(
            select(api_keys).where(
                api_keys.c.tenant == tenant,
                api_keys.c.name == BOOTSTRAP_KEY_NAME,
                api_keys.c.key_id != key_id,
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).all()
    revoked: list[ApiKeyV1] = []
    now = utcnow()
    for row in earlier:
        record = ApiKeyV1(
            key_id=row.key_id,
            tenant=row.tenant,
            name=row.name,
            secret_hash=row.secret_hash,
            scopes=sorted(parse_scopes(row.scopes)),
            revoked_at=now,
        )
        await upsert_api_key(session, record)
        revoked.append(record)
    return revoked
