"""Run a service app in-process, lifespan entered, behind an httpx client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from shared.runtime import Runtime
from shared.settings import ServiceSettings, Topics
from tests.support.kafka import grant_deployment, passwords

S = TypeVar("S", bound=ServiceSettings)

# The one LODESTAR_SECRET_KEY of the tests (in-process apps and processes alike).
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef-0123456789"


def service_settings(
    cls: type[S],
    *,
    bootstrap: str,
    topics: Topics,
    database_url: str,
    admin_key: str,
    require_proof: bool = False,
) -> S:
    """Settings for an in-process service on the test's topics and database, tenant `acme`.

    The service connects as its own principal (goals, metrics or alerts), with the ACLs of the
    test's topics granted (`tests.support.kafka.grant_deployment`). `require_proof` makes
    metrics refuse measurements without a tenant proof (the production default; off here
    because most tests produce raw records, `shared.ingest_proof`)."""
    known = passwords(bootstrap)
    service = str(cls.model_fields["service_name"].default)
    user = service if service in known else "admin"
    grant_deployment(bootstrap, topics)
    return cls(
        kafka_bootstrap=bootstrap,
        kafka_username=user,
        kafka_password=SecretStr(known[user]),
        ingest_require_proof=require_proof,
        topics=topics,
        database_url=database_url,
        bootstrap_tenant="acme",
        bootstrap_admin_key=SecretStr(admin_key),
        secret_key=SecretStr(TEST_SECRET_KEY),
        # Tests drive one key hard; the rate limit has its own test (tests/integration/test_limits).
        rate_limit_burst=1_000_000,
        outbox_poll_interval_s=0.5,
        consumer_poll_timeout_ms=50,
        log_json=False,
        gc_freeze=False,
    )


@dataclass
class RunningApp:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@contextlib.asynccontextmanager
async def running(app: FastAPI, api_key: str | None = None) -> AsyncIterator[RunningApp]:
    """Enter the app's lifespan, wait for its consumers to join, and hand out a client."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        await runtime.wait_assigned()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield RunningApp(app, client)
