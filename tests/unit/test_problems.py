"""Errors reach clients as RFC 9457 problem+json, whoever raised them."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.errors import Conflict, document_problems, install_problem_handlers, problem_responses


class Body(BaseModel):
    n: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    document_problems(app)

    @app.post("/things", responses=problem_responses(409))
    async def create(body: Body) -> dict[str, int]:
        if body.n == 0:
            raise Conflict("zero is taken")
        if body.n < 0:
            raise RuntimeError("boom")
        return {"n": body.n}

    @app.get("/things")
    async def list_things() -> list[int]:
        return []

    return app


async def call(**kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/things", **kwargs)  # type: ignore[arg-type]


async def test_domain_errors_carry_their_status() -> None:
    answer = await call(json={"n": 0})
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "https://lodestar.dev/problems/conflict",
        "title": "Conflict with the current state",
        "status": 409,
        "detail": "zero is taken",
        "instance": "/things",
    }


async def test_validation_errors_name_the_field() -> None:
    answer = await call(json={"n": "many"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["loc"] == ["body", "n"]


async def test_malformed_json_is_a_problem_too() -> None:
    answer = await call(content=b"{", headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_text_is_a_documented_422() -> None:
    answer = await call(content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "the request body is not valid UTF-8 JSON"


async def test_unexpected_errors_are_500_problems_without_internals() -> None:
    answer = await call(json={"n": -1})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "boom" not in answer.text


def test_problem_answers_are_in_the_openapi_document() -> None:
    spec = make_app().openapi()
    responses = spec["paths"]["/things"]["post"]["responses"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert responses["409"]["content"] == problem
    assert responses["422"]["content"] == problem, "FastAPI's own 422 is a problem too"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_method_not_allowed_names_every_method_of_the_path() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.delete("/things")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.headers["content-type"] == "application/problem+json"
