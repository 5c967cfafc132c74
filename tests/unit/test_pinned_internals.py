"""The shims that lean on libraries' private internals still fit the installed libraries.

`shared/sqlite_inline.py` stands in for aiosqlite under SQLAlchemy's adapter,
`shared/db.py` (`driver_connection`) begins the asyncpg adapter's transaction itself, and
`shared/codec.py` (used by `services/metrics/codec.py` too) builds pydantic models without
validating them, after msgspec's verdicts. Both were written against one release of each
library; these tests fail, naming the module and the versions, as soon as the installed or
locked release is another, and check the private attributes the shims touch are still there.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import pydantic
import pytest
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import db, kafka_acls, sqlite_inline
from shared.db import create_engine

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"

# `shared/codec.py` and `services/metrics/codec.py` set the four slots of a
# `pydantic.BaseModel` themselves and trust msgspec's verdicts to equal pydantic's.
CODEC_WRITTEN_AGAINST = {"pydantic": "2.14.4", "pydantic-core": "2.50.5", "msgspec": "0.22.0"}

SHIMS = (
    [
        ("shared/sqlite_inline.py", package, pinned)
        for package, pinned in sqlite_inline.WRITTEN_AGAINST.items()
    ]
    + [
        (module, package, pinned)
        for module in ("shared/codec.py", "services/metrics/codec.py")
        for package, pinned in CODEC_WRITTEN_AGAINST.items()
    ]
    + [("shared/db.py", package, pinned) for package, pinned in db.WRITTEN_AGAINST.items()]
    + [
        ("shared/kafka_acls.py", package, pinned)
        for package, pinned in kafka_acls.WRITTEN_AGAINST.items()
    ]
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", LOCK.read_text(), re.M)
    return {normalized(name): pinned for name, pinned in pins}


@pytest.mark.parametrize(("module", "package", "pinned"), SHIMS)
def test_the_installed_and_locked_release_is_the_one_the_shim_was_written_against(
    module: str, package: str, pinned: str
) -> None:
    installed = version(package)
    locked = locked_versions().get(normalized(package))
    assert (installed, locked) == (pinned, pinned), (
        f"{module} leans on private internals of {package} {pinned}, but {installed} is "
        f"installed and requirements.lock pins {locked}: re-read what the module touches "
        f"(its docstring and tests/unit/test_pinned_internals.py), then update its "
        f"written-against version"
    )


def test_aiokafka_still_sends_raw_requests_and_has_the_v1_acl_structs() -> None:
    """`shared/kafka_acls.py` sends its own CreateAcls / DeleteAcls (v1) through the admin
    client's private `_send_request`, filling the structs' fields in this order."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest_v1

    assert callable(AIOKafkaAdminClient._send_request)
    fields = [
        "resource_type", "resource_name", "resource_pattern_type", "principal", "host",
        "operation", "permission_type",
    ]  # fmt: skip
    assert list(CreateAclsRequest_v1.SCHEMA.fields[0].array_of.names) == fields
    assert list(DeleteAclsRequest_v1.SCHEMA.fields[0].array_of.names) == [
        *fields[:2],
        "resource_pattern_type_filter",
        *fields[3:],
    ]


def test_the_asyncpg_adapter_still_begins_its_transaction_lazily() -> None:
    """`shared.db.driver_connection` begins the adapter's transaction itself when it has not
    begun yet (`_transaction` None), by the adapter's own `_start_transaction`; the
    integration test of the inbox's rollback fails on PostgreSQL if that stops working."""
    import inspect

    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    assert "_transaction" in AsyncAdapt_asyncpg_connection.__slots__
    assert inspect.iscoroutinefunction(AsyncAdapt_asyncpg_connection._start_transaction)
    source = inspect.getsource(AsyncAdapt_asyncpg_connection._start_transaction)
    assert "self._transaction = transaction" in source


def test_pydantic_models_keep_the_four_slots_the_codec_sets() -> None:
    assert pydantic.BaseModel.__slots__ == (
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    )


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    yield engine
    await engine.dispose()


class TestSqlalchemysAdapterOverTheInlineConnection:
    async def test_the_driver_connection_is_the_inline_one(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection, AsyncAdapt_aiosqlite_connection)
            assert isinstance(raw.driver_connection, sqlite_inline.InlineConnection)

    async def test_commit_and_rollback_skip_a_closed_connection(self, engine: AsyncEngine) -> None:
        # The adapter checks `_connection._connection` before awaiting commit or rollback.
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            adapted = raw.dbapi_connection
            assert isinstance(raw.driver_connection, sqlite_inline.InlineConnection)
            raw.driver_connection.stop()
            assert adapted is not None
            adapted.commit()  # outside a greenlet: would raise if it tried to await
            adapted.rollback()
            await conn.invalidate()

    async def test_terminate_stops_the_inline_connection(self, engine: AsyncEngine) -> None:
        assert engine.dialect.has_terminate  # follows `aiosqlite.Connection.stop`
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            inline = raw.driver_connection
            assert isinstance(inline, sqlite_inline.InlineConnection)
            adapted = raw.dbapi_connection
            assert isinstance(adapted, AsyncAdapt_aiosqlite_connection)
            adapted._terminate_force_close()
            assert inline._connection is None
            await conn.invalidate()

    def test_a_closed_inline_connection_reads_as_a_disconnect(self, engine: AsyncEngine) -> None:
        inline = sqlite_inline.InlineConnection(sqlite3.connect(":memory:"))
        inline.stop()
        with pytest.raises(ValueError, match="no active connection") as closed:
            inline.cursor()
        with pytest.raises(sqlite3.OperationalError) as raised:
            AsyncAdapt_aiosqlite_connection._handle_exception_no_connection(
                engine.dialect.dbapi, closed.value
            )
        assert engine.dialect.is_disconnect(raised.value, None, None)  # type: ignore[arg-type]
