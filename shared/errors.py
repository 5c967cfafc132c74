"""Errors that carry their own HTTP status, rendered once as RFC 9457 problem+json.

    ProblemError                 any error a client may see (status, title, type)
    ├── BadRequest               400
    ├── Unauthorized             401 — no key, unknown key, revoked key
    ├── Forbidden                403 — the key lacks the scope
    ├── NotFound                 404 — absent, or another tenant's
    ├── Conflict                 409 — the state forbids the change
    ├── Unprocessable            422 — well-formed but invalid
    ├── PayloadTooLarge          413 — the body is over `max_request_bytes`
    └── TooManyRequests          429 — the key's rate limit (with Retry-After)

Services subclass these (`ObjectiveNotFound(NotFound)`), so a route never builds an
HTTPException and the OpenAPI document lists each route's errors through `problem_responses`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://lodestar.dev/problems/"
BODY_PARSE_ERROR = "There was an error parsing the body"
REF_TEMPLATE = "#/components/schemas/{model}"

log = structlog.get_logger(__name__)


_T = TypeVar("_T")


class Problem(BaseModel):
    """The RFC 9457 body of every error answer."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Field-level validation errors, where there are any"
    )


class ProblemError(Exception):
    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.extra.get("errors"),
        )


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "The API key lacks the scope for this call"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests for this API key"


class Unprocessable(ProblemError):
    status, slug, title = 422, "validation", "The request is not valid"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem answers a route can give."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": HTTPStatus(status).phrase,
        }
        for status in statuses
    }


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's 405 names only the first
    route's, though FastAPI declares one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API does: every error answer is a `Problem` in
    `application/problem+json`, including FastAPI's own 422 (documented as plain JSON)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template=REF_TEMPLATE)
        problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    if status[:1] in ("4", "5"):
                        response["content"] = problem
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error, ours or the framework's, as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        headers = exc.extra.get("headers", headers)  # e.g. a 503's Retry-After
        return problem_response(exc.to_problem(request.url.path), headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        problem = Unprocessable(detail, errors=errors).to_problem(request.url.path)
        return problem_response(problem)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not even text; every route with a body
            # documents 422 for a body it cannot use, so that is what the client gets.
            detail = "the request body is not valid UTF-8 JSON"
            return problem_response(Unprocessable(detail).to_problem(request.url.path))
        if exc.status_code == 413:  # FastAPI's body limit (`max_request_bytes`)
            detail = "the request body is over this service's size limit"
            return problem_response(PayloadTooLarge(detail).to_problem(request.url.path))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        problem = Problem(
            type=PROBLEM_BASE + "http",
            title=HTTPStatus(exc.status_code).phrase,
            status=exc.status_code,
            detail=str(exc.detail),
            instance=request.url.path,
        )
        return problem_response(problem, headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(ProblemError().to_problem(request.url.path))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def found(row: _T | None, missing: NotFound) -> _T:
    """`row`, or the 404 `missing` when the lookup found nothing."""
    if row is None:
        raise missing
    return row
