"""Webhook destinations that try to hurt the service (issue 18): internal addresses refused at
configuration (422) and at each post, a receiver that drips its answer, one that answers
without end, one that redirects, and a slow receiver beside a good one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings, kpi_value, send, webhook_receiver
from tests.support.apps import RunningApp, running
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka

SECRET = "whsec_" + "B" * 32


@dataclass
class RawServer:
    """A TCP server on 127.0.0.1 that reads a request's head and then runs `answer`."""

    url: str = ""
    requests: int = 0
    open_connections: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[RawServer]:
    state = RawServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        state.tasks.add(task)
        state.requests += 1
        state.open_connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            await answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            state.open_connections -= 1
            state.tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        yield state
    finally:
        server.close()
        for task in list(state.tasks):  # the answers that never end
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        await server.wait_closed()


async def drip(writer: asyncio.StreamWriter) -> None:
    """A status line, then one byte of header every 0.2 s, for ever."""
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.2)


async def endless(writer: asyncio.StreamWriter) -> None:
    """200 and a chunked body that never ends, as fast as the reader takes it."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 16384
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


def rule(name: str, kpi: str, url: str) -> dict[str, Any]:
    return {"name": name, "kpi": kpi, "threshold": 5.0, "webhook": {"url": url, "secret": SECRET}}


async def delivery_of(app: RunningApp, rule_id: str) -> dict[str, Any] | None:
    page = (await app.client.get("/v1/webhook-deliveries", params={"rule_id": rule_id})).json()
    items: list[dict[str, Any]] = page["items"]
    return items[0] if items else None


async def created(app: RunningApp, body: dict[str, Any]) -> str:
    answer = await app.client.post("/v1/rules", json=body)
    assert answer.status_code == 201, answer.text
    rule_id: str = answer.json()["id"]
    return rule_id


async def test_internal_destinations_are_refused_when_configured(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.webhook_allow_private = False
    async with running(create_app(settings), admin_key) as app:
        for url in (
            "http://127.0.0.1:5432/",
            "http://localhost:8003/v1/rules",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://user:pw@example.com/",
            "ftp://example.com/",
        ):
            answer = await app.client.post("/v1/rules", json=rule("R", "churn", url))
            assert answer.status_code == 422, (url, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        # The same check on a change of webhook.
        rule_id = await created(app, {"name": "R", "kpi": "churn", "threshold": 1.0})
        patch = {"webhook": {"url": "http://127.0.0.1:22/", "secret": SECRET}}
        refused = await app.client.patch(f"/v1/rules/{rule_id}", json=patch)
        assert refused.status_code == 422, refused.text
        # And on a tenant's own Alertmanager (the deployment's own are the operator's).
        own = {"mode": "own", "urls": ["http://127.0.0.1:9093"]}
        refused = await app.client.put("/v1/settings/alertmanager", json=own)
        assert refused.status_code == 422, refused.text


async def test_an_address_that_became_internal_is_refused_at_the_post(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    """Configured while private addresses were allowed (or while its name pointed elsewhere):
    each post checks the address again, and the receiver hears nothing."""
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    with webhook_receiver() as receiver:
        async with running(create_app(settings), admin_key) as app:
            rule_id = await created(app, rule("ChurnHigh", "churn", receiver.url))
            settings.webhook_allow_private = False
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

            async def refused() -> dict[str, Any] | None:
                found = await delivery_of(app, rule_id)
                return found if found and found["attempts"] >= 1 else None

            attempt = await wait_until(refused, what="the refused attempt")
            assert attempt["last_error"] == "refused destination"
            assert attempt["last_status_code"] is None
            assert receiver.posts == []


async def test_a_dripping_receiver_is_cut_at_the_deadline_and_never_delays_another(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    # Long enough that the good post lands inside it even on a loaded machine.
    settings.webhook_timeout_s = 15.0
    with webhook_receiver() as good:
        async with raw_server(drip) as slow, running(create_app(settings), admin_key) as app:
            slow_rule = await created(app, rule("SlowHook", "churn", slow.url))
            good_rule = await created(app, rule("GoodHook", "nps", good.url))
            topic = topics.name(topics.kpi_values)
            await send(kafka_bootstrap, topic, kpi_value("churn", 9.0))
            await wait_until(lambda: slow.requests >= 1, what="the slow receiver's request")
            await send(kafka_bootstrap, topic, kpi_value("nps", 9.0))

            async def delivered() -> dict[str, Any] | None:
                found = await delivery_of(app, good_rule)
                return found if found and found["status"] == "delivered" else None

            await wait_until(delivered, what="the good receiver's delivery")
            # Delivered while the slow post is still in flight (not yet recorded).
            in_flight = await delivery_of(app, slow_rule)
            assert in_flight is not None
            assert in_flight["attempts"] == 0, in_flight

            async def cut() -> dict[str, Any] | None:
                found = await delivery_of(app, slow_rule)
                return found if found and found["attempts"] >= 1 else None

            # The drip never ends: only the deadline ends the attempt.
            attempt = await wait_until(cut, timeout_s=40, what="the dripping attempt cut")
            assert attempt["last_error"] == "timeout"
            assert attempt["status"] == "pending"  # retried later


async def test_an_endless_answer_is_read_only_up_to_the_cap(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.webhook_timeout_s = 120.0  # far past wait_until's 20 s: the cap must end it
    async with raw_server(endless) as server, running(create_app(settings), admin_key) as app:
        rule_id = await created(app, rule("Endless", "churn", server.url))
        await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

        async def delivered() -> dict[str, Any] | None:
            found = await delivery_of(app, rule_id)
            return found if found and found["status"] == "delivered" else None

        done = await wait_until(delivered, what="the delivery, its answer cut at the cap")
        assert done["last_status_code"] == 200
        await wait_until(lambda: server.open_connections == 0, what="the connection closed")


async def test_a_redirect_is_not_followed(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    with webhook_receiver() as target:

        async def redirect(writer: asyncio.StreamWriter) -> None:
            writer.write(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target.url}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()

        async with raw_server(redirect) as server, running(create_app(settings), admin_key) as app:
            rule_id = await created(app, rule("Redirected", "churn", server.url))
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

            async def attempted() -> dict[str, Any] | None:
                found = await delivery_of(app, rule_id)
                return found if found and found["attempts"] >= 1 else None

            attempt = await wait_until(attempted, what="the redirected attempt")
            assert attempt["last_status_code"] == 307
            assert attempt["last_error"] == "HTTP 307"
            # A followed redirect would have been posted within that same attempt.
            assert target.posts == []
