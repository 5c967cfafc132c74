"""FastAPI dependencies every service uses: the runtime, its settings, sessions, the time of
the request, and the caller's key.

Services alias these in their own `deps.py`. A write session is one transaction around the
route function: committed before the response is sent, rolled back if the route raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from shared.auth import Principal, Scope, authenticate, require
from shared.errors import Unauthorized
from shared.events import utcnow
from shared.settings import ServiceSettings

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

S = TypeVar("S", bound=ServiceSettings)


def settings_of(kind: type[S]) -> Callable[[Runtime], S]:
    """The dependency on a service's settings: its runtime's, which are of its `kind`."""

    def settings(runtime: RuntimeDep) -> S:
        found = runtime.settings
        assert isinstance(found, kind)
        return found

    return settings


def _now() -> datetime:
    return utcnow()


Now = Annotated[datetime, Depends(_now)]
"""The time of the request: every use case takes `now` as a parameter, never reads a clock."""


SCOPE_ATTRIBUTE = "lodestar_scope"
# The OpenAPI extension naming what an operation needs: read, write, admin; `public` (no key:
# health, the console's static pages) or `forwarded` (the console's proxy, whose upstream
# authenticates) only where a route says so itself with `openapi_extra`.
SCOPE_EXTENSION = "x-lodestar-scope"
PUBLIC = {SCOPE_EXTENSION: "public"}


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of one route, as served (prefixes applied) and what it needs."""

    method: str
    path: str
    documented: bool
    scope: str | None
    route: APIRoute


def _scope(declared: dict[str, Any] | None, route: APIRoute) -> str | None:
    """The route's own `x-lodestar-scope`, else the scope of the key dependency it has
    (`Reader`, `Writer`, `Admin`), else None (a route nobody classified)."""
    named = (declared or {}).get(SCOPE_EXTENSION)
    if isinstance(named, str):
        return named
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        scope = getattr(dependency.call, SCOPE_ATTRIBUTE, None)
        if scope is not None:
            return str(scope)
        pending.extend(dependency.dependencies)
    return None


def operations(routes: Sequence[BaseRoute]) -> list[Operation]:
    """Every HTTP operation of an app's `routes`, included routers flattened."""
    found: list[Operation] = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path_format is None:
            continue
        scope = _scope(context.openapi_extra, route)
        for method in sorted(context.methods or ()):
            documented = bool(context.include_in_schema)
            found.append(Operation(method, context.path_format, documented, scope, route))
    return found


def annotate_scopes(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Write each documented operation's `x-lodestar-scope` into the OpenAPI `schema`."""
    for operation in operations(routes):
        documented = schema.get("paths", {}).get(operation.path, {}).get(operation.method.lower())
        if documented is not None and operation.scope is not None:
            documented[SCOPE_EXTENSION] = operation.scope


def _scoped(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs `scope`: the caller's key, authenticated, within
    its rate limit, holding the scope. It carries the scope (`SCOPE_ATTRIBUTE`), from which
    `shared.app` writes each operation's `x-lodestar-scope` into the OpenAPI document."""

    async def principal(
        request: Request,
        runtime: RuntimeDep,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Principal:
        limiter = request.app.state.rate_limiter
        try:
            async with runtime.db.session() as session:
                found = await authenticate(session, authorization)
        except Unauthorized:
            # A refused key spends a token of the address it came from (behind a proxy: the
            # proxy's): a flood of bad keys is answered 429 past the burst, as a key's calls
            # are. Valid keys from that address keep their own buckets.
            host = request.client.host if request.client else "unknown"
            limiter.take(f"refused:{host}", who="refused keys from this address")
            raise
        limiter.take(found.key_id)
        return require(found, scope)

    setattr(principal, SCOPE_ATTRIBUTE, scope)
    return principal


Reader = Annotated[Principal, Depends(_scoped(Scope.READ))]
Writer = Annotated[Principal, Depends(_scoped(Scope.WRITE))]
Admin = Annotated[Principal, Depends(_scoped(Scope.ADMIN))]
