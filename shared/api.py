"""FastAPI dependencies every service uses: the runtime, sessions, and the caller's key.

Services alias these in their own `deps.py`. A write session is one transaction around the
route function: committed before the response is sent, rolled back if the route raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Scope, authenticate, require

if TYPE_CHECKING:
    from shared.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


async def _read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


async def _write_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.transaction() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]


def _scoped(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def principal(
        runtime: RuntimeDep,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Principal:
        async with runtime.db.session() as session:
            found = await authenticate(session, authorization)
        return require(found, scope)

    return principal


Reader = Annotated[Principal, Depends(_scoped(Scope.READ))]
Writer = Annotated[Principal, Depends(_scoped(Scope.WRITE))]
Admin = Annotated[Principal, Depends(_scoped(Scope.ADMIN))]
