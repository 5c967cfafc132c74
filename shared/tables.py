"""Tables every service has in its own database: the outbox, the processed-event record,
and the tenants and API keys it knows of.

They live on `infra_metadata` (SQLAlchemy Core) so each service's migrations include them
beside its own SQLModel tables; the operations that make them are written once, by version, in
`shared.migration_ops` (a change here needs a new version there).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)


class AwareDateTime(TypeDecorator[datetime]):
    """Base of the column types that hold an instant: None is stored as NULL, a naive datetime
    is refused (its zone would be a guess); a subclass says how an aware one is stored."""

    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return self.bind_aware(value, dialect)

    def bind_aware(self, value: datetime, dialect: Dialect) -> Any:
        raise NotImplementedError


class UtcDateTime(AwareDateTime):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps none).

    On SQLite it is text in SQLAlchemy's own format (`2026-12-05 16:15:00.000000`, naive
    UTC), written and read here with `isoformat`/`fromisoformat` rather than through the
    `DateTime` type's processors: the same text at half their cost, which was a tenth of the
    alerts consumer's CPU (a changed alert binds half a dozen instants)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_instant
        return super().result_processor(dialect, coltype)

    def bind_aware(self, value: datetime, dialect: Dialect) -> datetime:
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Both run for every datetime the services bind or read on SQLite (a dozen per measurement
# in alerts), so each takes the short way: an instant in UTC written as its ISO text without
# the "+00:00" it ends with, and stored text read back with that suffix, which gives the
# `UTC` singleton itself; `datetime.replace` was most of their cost (per call 2.1 → 1.6 µs
# to bind, 1.3 → 0.2 µs to read, `python -m timeit` on this project's 2-core machine).
def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    zone = value.tzinfo
    if zone is not UTC:
        if zone is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]


def _sqlite_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    if len(value) == 26 and value[19] == "." and value[20:].isdigit():  # `_sqlite_text`'s
        return datetime.fromisoformat(value + "+00:00")
    read = datetime.fromisoformat(value)
    return read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)


# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

infra_metadata = MetaData()

outbox = Table(
    "outbox",
    infra_metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(512), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

processed_events = Table(
    "processed_events",
    infra_metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(512), primary_key=True),
    Column("event_id", String(256), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
    # What `shared.inbox.prune` deletes by: identities older than the retention.
    Index("ix_processed_events_processed_at", "processed_at"),
)

tenants = Table(
    "tenants",
    infra_metadata,
    Column("slug", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    infra_metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_api_keys_tenant", "tenant"),
)
