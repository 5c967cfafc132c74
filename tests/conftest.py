"""Session fixtures: one real broker, the real databases, unique topics per test; the
Hypothesis profile and the e2e tests' time limit."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings

from shared.auth import generate_key
from shared.settings import Topics
from tests.support import infra, kafka

# "ci", the default: the same examples on every run (seeded from each test), no per-example
# deadline on this shared 2-core machine, and a failure prints the blob that replays it
# (`@reproduce_failure`). HYPOTHESIS_PROFILE=explore draws new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("explore", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# An e2e test starts the three services as processes, each allowed 60 s to get ready
# (tests/support/processes.py), then waits up to 20 s per step: pytest-timeout's default
# (120 s, pyproject.toml) would cut it off before its own, clearer, deadline fires.
E2E_TIMEOUT_S = 360


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return infra.kafka_bootstrap()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return infra.postgres_url()


@pytest.fixture(scope="session")
async def _test_topic_prefixes(kafka_bootstrap: str) -> AsyncIterator[set[str]]:
    """The prefixes the session's tests used; their topics and ACLs are deleted at the end, or
    the broker's log dir would gain a few thousand partitions per run (and restart slowly) —
    unless the broker is the run's own (`LODESTAR_TEST_BROKER_DISPOSABLE`, scripts/test.sh),
    reset whole when the run ends."""
    prefixes: set[str] = set()
    yield prefixes
    if os.environ.get("LODESTAR_TEST_BROKER_DISPOSABLE") == "1":
        return  # scripts/test.sh started this broker for this run and resets it at its end
    admin = kafka.new_admin(kafka_bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.split(".", 1)[0] + "." in prefixes]
        for start in range(0, len(names), 500):
            await admin.delete_topics(names[start : start + 500])
    finally:
        await admin.close()
    await kafka.revoke_deployments(kafka_bootstrap)


@pytest.fixture
def topics(_test_topic_prefixes: set[str]) -> Topics:
    """Topic names no other test uses, on the shared broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    _test_topic_prefixes.add(prefix)
    return Topics(prefix=prefix)


@pytest.fixture
def admin_key() -> str:
    return generate_key()[0]


class DatabaseFactory:
    """Fresh, empty databases of one backend, one per call."""

    def __init__(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.backend = backend
        self._tmp_path = tmp_path
        self._request = request
        self._created: list[str] = []

    async def new(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self._tmp_path}/{uuid.uuid4().hex[:8]}.db"
        server = self._request.getfixturevalue("postgres_server")
        url, name = await infra.create_postgres_database(server)
        self._created.append(name)
        return url

    async def cleanup(self) -> None:
        if self._created:
            server = self._request.getfixturevalue("postgres_server")
            for name in self._created:
                await infra.drop_postgres_database(server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseFactory]:
    """Runs the test once on SQLite and once on PostgreSQL."""
    factory = DatabaseFactory(request.param, tmp_path, request)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def postgres_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseFactory]:
    """PostgreSQL alone, for what only PostgreSQL has (its planner, advisory locks)."""
    factory = DatabaseFactory("postgres", tmp_path, request)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def sqlite_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory("sqlite", tmp_path, request)
    yield factory
    await factory.cleanup()
