"""Two replicas of each service on PostgreSQL (one database per service), real broker, real
processes, started together against empty databases.

- They migrate once, and without faults every event id appears once on `kpi.values`,
  `okr.events` and `alerts`, each threshold crossing gives one firing alert, and a local
  webhook receiver gets each notification once.
- SIGKILL of one replica of each service mid-stream (the one leading its outbox relay): its
  partitions and its singleton loops move to the survivor, nothing is lost, and an event is
  repeated only inside the killed replica's in-flight window, with the same id (the window is
  measured and printed).

The stream: measurements of KPIs aggregated by `max` over today, values below THRESHOLD but,
for the "hot" KPIs, one above it somewhere in the stream. A day's max only grows, so however
the metrics service batches its `kpi.values`, a hot KPI crosses the threshold exactly once
(one firing, one webhook) and a cold one never; its key result (following the KPI's max over
the cycle) ends at the KPI's max. Some measurements are sent twice, byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import generate_key
from shared.settings import Topics
from tests.integration.alerts.helpers import Receiver, webhook_receiver
from tests.support import infra
from tests.support.accounting import Reader, Stream, create_topics, produce_paced, query
from tests.support.events import measurement
from tests.support.kafka import wait_until
from tests.support.processes import SERVICES, Replicated, ServiceProcess, replicated_platform
from tests.support.replicas import (
    SINGLETONS,
    group_lags,
    leaders,
    outbox_total,
    quiet,
    repeats,
)

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.postgres]

THRESHOLD = 100.0
KPIS, HOT = 12, 8
PER_KPI = 300
RATE = 600.0  # measurements per second: the stream lasts about 6 s
IN_FLIGHT_BOUND_S = 15.0  # a relay batch or a webhook round cut off by the kill, at most
# A repeat comes from the survivor, which leads only once the killed process is gone; `kill()`
# returns once it is reaped, and the clock is read then: this much earlier, generously.
KILL_TOOK_MS = 1000
TOPICS = ("kpi_values", "okr_events", "alerts")
PRODUCER = {"kpi_values": "metrics", "okr_events": "goals", "alerts": "alerts"}


@dataclass
class Cluster:
    running: Replicated
    urls: dict[str, str]
    bootstrap: str
    topics: Topics
    headers: dict[str, str]
    log_dir: Path


@pytest.fixture(scope="module")
def cluster(
    kafka_bootstrap: str,
    postgres_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    _test_topic_prefixes: set[str],
) -> Iterator[Cluster]:
    """The six processes, shared by this module's tests (start-up is most of their cost)."""
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    _test_topic_prefixes.add(topics.prefix)
    admin_key = generate_key()[0]
    log_dir = tmp_path_factory.mktemp("replicas")

    async def create() -> dict[str, tuple[str, str]]:
        await create_topics(kafka_bootstrap, [topics.name(getattr(topics, t)) for t in TOPICS])
        return {s: await infra.create_postgres_database(postgres_server) for s in SERVICES}

    made = asyncio.run(create())
    urls = {service: url for service, (url, _) in made.items()}
    try:
        with replicated_platform(
            bootstrap=kafka_bootstrap,
            topics=topics,
            admin_key=admin_key,
            database_urls=urls,
            log_dir=log_dir,
        ) as running:
            headers = {"Authorization": f"Bearer {admin_key}"}
            yield Cluster(running, urls, kafka_bootstrap, topics, headers, log_dir)
    finally:
        for _, name in made.values():
            asyncio.run(infra.drop_postgres_database(postgres_server, name))


@dataclass
class Plan:
    """The measurements of one test and what a correct platform makes of them."""

    tag: str
    stream: Stream
    maxima: dict[str, float]  # KPI → its max (today's value, and its key result's)
    hot: set[str]  # the KPIs crossing THRESHOLD (once)
    key_results: dict[str, str]  # KPI → its key result's id


def plan(tag: str, seed: int) -> Plan:
    rng = random.Random(seed)
    kpis = [f"{tag}-{i}" for i in range(KPIS)]
    hot = set(kpis[:HOT])
    crossing = {k: rng.randrange(PER_KPI) for k in hot}
    at = datetime.now(UTC)
    records: list[tuple[str, bytes]] = []
    maxima = dict.fromkeys(kpis, 0.0)
    for i in range(KPIS * PER_KPI):
        kpi = kpis[i % KPIS]
        high = crossing.get(kpi) == i // KPIS
        value = float(rng.randint(150, 300) if high else rng.randint(1, 90))
        maxima[kpi] = max(maxima[kpi], value)
        moment = at + timedelta(microseconds=i)
        records.append((f"acme/{kpi}", measurement("acme", kpi, value, time=moment)))
        if i % 25 == 24:
            records.append(records[rng.randrange(len(records))])
    stream = Stream(records, {}, at, at, unique=KPIS * PER_KPI)
    return Plan(tag, stream, maxima, hot, {})


async def define(cluster: Cluster, client: httpx.AsyncClient, p: Plan, hook: str) -> None:
    """The KPIs (metrics), an objective with a key result per KPI (goals) and a threshold rule
    per KPI with a webhook (alerts), each created through whichever replica is running."""

    async def post(service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await client.post(f"{cluster.running.url(service)}/v1{path}", json=body)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result

    now = datetime.now(UTC)
    cycle = await post(
        "goals",
        "/cycles",
        {
            "name": f"Q {p.tag}",
            "starts_at": (now - timedelta(days=10)).isoformat(),
            "ends_at": (now + timedelta(days=80)).isoformat(),
        },
    )
    await post("goals", f"/cycles/{cycle['id']}/activate", {})
    objective = await post(
        "goals",
        "/objectives",
        {"cycle_id": cycle["id"], "title": p.tag, "owner": "ceo", "level": "company"},
    )
    for kpi in p.maxima:
        await post("metrics", "/kpis", {"key": kpi, "name": kpi, "aggregation": "max"})
        kr = await post(
            "goals",
            f"/objectives/{objective['id']}/key-results",
            {"title": kpi, "kind": "increase", "start": 0, "target": 1000, "kpi": kpi,
             "kpi_aggregation": "max"},
        )  # fmt: skip
        p.key_results[kpi] = kr["id"]
        rule = {"name": "High", "kpi": kpi, "operator": "above", "threshold": THRESHOLD,
                "webhook": {"url": hook, "secret": "whsec_" + "A" * 32}}  # fmt: skip
        await post("alerts", "/rules", rule)


async def settled(cluster: Cluster, p: Plan, receiver: Receiver, timeout_s: float) -> None:
    """Every measurement stored, every webhook delivered, then the whole platform quiet."""
    metrics_db, alerts_db = cluster.urls["metrics"], cluster.urls["alerts"]
    kpis = ", ".join(f"'{k}'" for k in p.maxima)
    state: dict[str, Any] = {}

    async def done() -> bool:
        stored = await query(metrics_db, f"SELECT count(*) FROM measurements WHERE kpi IN ({kpis})")
        state["stored"] = stored[0][0]
        pending = await query(
            alerts_db, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
        )
        state["pending webhooks"] = pending[0][0]
        state["hot KPIs notified"] = len({k for k in p.hot if receiver.bodies(k)})
        if state["stored"] < p.stream.unique or state["pending webhooks"]:
            return False
        if state["hot KPIs notified"] < len(p.hot):
            return False
        state["quiet"] = await quiet(cluster.bootstrap, cluster.topics.prefix, cluster.urls)
        return bool(state["quiet"])

    try:
        await wait_until(done, timeout_s=timeout_s, what="the platform to settle")
    except AssertionError as exc:
        why = await diagnosis(cluster, p)
        raise AssertionError(f"{exc}: {state} (of {p.stream.unique} unique)\n{why}") from None


async def diagnosis(cluster: Cluster, p: Plan) -> str:
    """What a timed-out settle leaves to look at: each group's lag, each outbox, the alerts
    of the plan's KPIs, and the warnings and errors of every replica's log."""
    kpis = ", ".join(f"'{k}'" for k in p.maxima)
    alerts = await query(
        cluster.urls["alerts"],
        f"SELECT kpi, state, started_at FROM alerts WHERE kpi IN ({kpis}) ORDER BY kpi",
    )
    outboxes = {s: await outbox_total({s: url}) for s, url in cluster.urls.items()}
    lines = [
        f"group lags: {await group_lags(cluster.bootstrap, cluster.topics.prefix)}",
        f"outbox rows: {outboxes}",
        f"alerts of the plan's KPIs: {alerts}",
    ]
    for service, replicas in cluster.running.services.items():
        for i, replica in enumerate(replicas):
            noted = [
                line[:400]
                for line in replica.log.read_text(errors="replace").splitlines()
                if '"level": "warning"' in line or '"level": "error"' in line
                or "Traceback" in line or "partitions_assigned" in line
            ]  # fmt: skip
            lines.append(f"--- {service}-{i} (alive: {replica.process.poll() is None}):")
            lines += noted[-40:]
    return "\n".join(lines)


async def check_outcome(
    cluster: Cluster, client: httpx.AsyncClient, p: Plan, readers: dict[str, Reader]
) -> dict[str, list[dict[str, Any]]]:
    """Nothing lost, nothing doubled in effect; returns the events of each topic, about `p`."""
    metrics_db = cluster.urls["metrics"]
    kpis = ", ".join(f"'{k}'" for k in p.maxima)
    rows = await query(
        metrics_db, f"SELECT kpi, count(*) FROM measurements WHERE kpi IN ({kpis}) GROUP BY kpi"
    )
    assert dict(rows) == dict.fromkeys(p.maxima, PER_KPI), "every measurement stored once"
    rolled = await query(metrics_db, f"SELECT sum(count) FROM rollups WHERE kpi IN ({kpis})")
    assert rolled[0][0] == p.stream.unique, "the rollups count each measurement once"

    for reader in readers.values():
        await reader.read_to_end()
    events = {
        "kpi_values": [
            e for e in readers["kpi_values"].events() if e["data"].get("kpi") in p.maxima
        ],
        "okr_events": [
            e
            for e in readers["okr_events"].events()
            if e["data"].get("key_result_id") in p.key_results.values()
        ],
        "alerts": [
            e for e in readers["alerts"].events() if e["data"]["labels"].get("kpi") in p.maxima
        ],
    }
    last_value = {e["data"]["kpi"]: e["data"]["value"] for e in events["kpi_values"]}
    assert last_value == p.maxima, "each KPI's last kpi.values event carries its max"
    for kpi, kr_id in p.key_results.items():
        found = (await client.get(f"{cluster.running.url('goals')}/v1/key-results/{kr_id}")).json()
        assert found["current"] == p.maxima[kpi], f"{kpi}'s key result follows its max"
    assert events["okr_events"], "the key results announced their progress"

    firing = {e["id"]: e for e in events["alerts"] if e["data"]["status"] == "firing"}
    per_kpi = sorted(e["data"]["labels"]["kpi"] for e in firing.values())
    assert per_kpi == sorted(p.hot), "one firing alert per threshold crossing, none else"
    assert not [e for e in events["alerts"] if e["data"]["status"] != "firing"]
    return events


def deliveries(receiver: Receiver, p: Plan) -> dict[str, list[float]]:
    """Delivery id → the times it was posted, for the firing notifications about `p`."""
    posted: dict[str, list[float]] = {}
    for (headers, body), at in zip(receiver.posts, receiver.times, strict=True):
        alert = json.loads(body)["alerts"][0]
        if alert["labels"].get("kpi") in p.maxima:
            posted.setdefault(headers["webhook-id"], []).append(at)
    return posted


def webhook_kpis(receiver: Receiver, p: Plan) -> list[str]:
    """The KPI of each distinct firing notification about `p`."""
    seen: dict[str, str] = {}
    for headers, body in receiver.posts:
        posted = json.loads(body)
        kpi = posted["alerts"][0]["labels"].get("kpi")
        if kpi in p.maxima and posted["status"] == "firing":
            seen[headers["webhook-id"]] = kpi
    return sorted(seen.values())


def readers_for(cluster: Cluster) -> dict[str, Reader]:
    topics = cluster.topics
    return {t: Reader(cluster.bootstrap, topics.name(getattr(topics, t))) for t in TOPICS}


@pytest.mark.timeout(420)
async def test_replicas_started_together_migrate_once_and_publish_each_event_once(
    cluster: Cluster,
) -> None:
    for service in SERVICES:
        lines = [
            line
            for replica in cluster.running.services[service]
            for line in replica.log.read_text().splitlines()
            if '"event": "migrated"' in line
        ]
        assert len(lines) == 1, f"{service}: migrated once, by one replica: {lines}"

        async def led(service: str = service) -> bool:
            return set(await leaders(cluster.urls[service])) == SINGLETONS[service]

        await wait_until(led, timeout_s=10, what=f"a leader for each of {service}'s loops")

    p = plan("calm", seed=1)
    readers = readers_for(cluster)
    async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
        with webhook_receiver() as receiver:
            await define(cluster, client, p, receiver.url)
            async with readers["kpi_values"], readers["okr_events"], readers["alerts"]:
                topic = cluster.topics.name(cluster.topics.measurements)
                await produce_paced(cluster.bootstrap, topic, p.stream, per_second=RATE)
                await settled(cluster, p, receiver, timeout_s=120)
                events = await check_outcome(cluster, client, p, readers)
                for name, found in events.items():
                    ids = [e["id"] for e in found]
                    assert len(ids) == len(set(ids)), f"{name}: each event id once"
                    print(f"{name}: {len(ids)} events, each once")
            assert webhook_kpis(receiver, p) == sorted(p.hot)
            posted = deliveries(receiver, p)
            assert all(len(times) == 1 for times in posted.values()), "each webhook once"


@pytest.mark.timeout(420)
async def test_sigkill_of_one_replica_each_moves_partitions_and_loops_to_the_survivor(
    cluster: Cluster,
) -> None:
    p = plan("storm", seed=2)
    readers = readers_for(cluster)
    killed_at: dict[str, float] = {}
    async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
        with webhook_receiver() as receiver:
            await define(cluster, client, p, receiver.url)
            async with readers["kpi_values"], readers["okr_events"], readers["alerts"]:
                topic = cluster.topics.name(cluster.topics.measurements)
                producing = asyncio.create_task(
                    produce_paced(cluster.bootstrap, topic, p.stream, per_second=RATE)
                )
                await wait_until(
                    lambda: p.stream.sent >= len(p.stream.records) // 3,
                    timeout_s=60,
                    what="a third of the stream",
                )
                kpis = ", ".join(f"'{k}'" for k in p.maxima)
                sql = f"SELECT count(*) FROM measurements WHERE kpi IN ({kpis})"
                stored_then = (await query(cluster.urls["metrics"], sql))[0][0]
                survivors: dict[str, ServiceProcess] = {}
                for service in SERVICES:
                    relay = (await leaders(cluster.urls[service]))["outbox-relay"]
                    group = cluster.running.services[service]
                    (leader,) = [r for r in group if r.process.pid == relay]
                    (survivors[service],) = [r for r in group if r is not leader]
                    leader.kill()  # returns once the process is gone
                    killed_at[service] = time.time()
                assert not producing.done(), "killed mid-stream: the producer still runs"
                assert 0 < stored_then < p.stream.unique, "killed mid-stream: part stored"
                print(f"killed with {stored_then} of {p.stream.unique} measurements stored")
                for service, survivor in survivors.items():

                    async def moved(
                        service: str = service, pid: int = survivor.process.pid
                    ) -> bool:
                        held = await leaders(cluster.urls[service])
                        return set(held) == SINGLETONS[service] and set(held.values()) == {pid}

                    await wait_until(moved, timeout_s=30, what=f"{service}'s loops to move")
                    took = time.time() - killed_at[service]
                    print(
                        f"{service}: every singleton loop led by the survivor "
                        f"{took:.2f}s after the kill"
                    )
                await producing
                await settled(cluster, p, receiver, timeout_s=180)
                events = await check_outcome(cluster, client, p, readers)
                for name in TOPICS:
                    kill_ms = killed_at[PRODUCER[name]] * 1000
                    found = repeats(readers[name].records)
                    mine = found.ids & {e["id"] for e in events[name]}
                    window = max((kill_ms - found.first_ms[i] for i in found.ids), default=0.0)
                    print(
                        f"{name}: {len(events[name])} events of this stream, {len(mine)} of "
                        f"them repeated ({found.copies} repeated records on the topic), "
                        f"in-flight window {window / 1000:.3f}s before the kill"
                    )
                    for event_id in found.ids:
                        # First by the killed replica, before it died; again by the survivor.
                        assert found.first_ms[event_id] <= kill_ms, "first published before it"
                        assert min(found.again_ms[event_id]) >= kill_ms - KILL_TOOK_MS
                    assert window <= IN_FLIGHT_BOUND_S * 1000
            assert webhook_kpis(receiver, p) == sorted(p.hot), "one notification per firing"
            posted = deliveries(receiver, p)
            again = {d: times for d, times in posted.items() if len(times) > 1}
            window = max((killed_at["alerts"] - t[0] for t in again.values()), default=0.0)
            print(f"webhooks: {len(posted)} notifications, {len(again)} posted again "
                  f"(in-flight window {window:.3f}s)")  # fmt: skip
            for times in again.values():
                assert times[0] <= killed_at["alerts"] < times[1], "repeated only across the kill"
            assert window <= IN_FLIGHT_BOUND_S
