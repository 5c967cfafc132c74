"""`kill -9` of the alerts service between a state change (committed with its outbox row)
and the row's publication, several times at seeded random points: every threshold crossing
is one firing alert on the `alerts` topic after the restarts, never none and never two.

The KPI values are forged as metrics would publish them (`kpi.values`), all on one partition
and one daily period per step, so the crossings a correct service announces are known up
front: a KPI above its threshold after being below (or first) fires once; below again
resolves once. Three KPIs cross at every step (the hard case: an alert re-evaluated after a
re-delivery must not fire twice); a new `once-N` KPI fires at each step and resolves two
steps later, so each of those alerts has one firing, told apart by fingerprint and startsAt.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Topics
from tests.support.accounting import Reader, create_topics, query
from tests.support.kafka import new_producer, wait_until
from tests.support.processes import platform, sqlite_urls, wait_ready

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

KPIS = ("latency", "errors", "queue")
THRESHOLD = 100.0
KILLS = 3
MAX_KILLS = 10  # more kills until one lands between a change and its publication
STEPS_PER_KILL = 30
# Today and the days ahead: alerts evaluate only values about the present (a period holding
# now, or one lying ahead), so each step is a day from today on.
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def kpi_value(kpi: str, step: int, value: float, tags: tuple[str, ...] = ()) -> bytes:
    """A `lodestar.kpi.value.v1` for day `step` of the KPI, as metrics emits it."""
    start = DAY0 + timedelta(days=step)
    event = {
        "specversion": "1.0",
        "type": "lodestar.kpi.value.v1",
        "id": str(uuid.uuid4()),
        "source": "lodestar/metrics",
        "time": datetime.now(UTC).isoformat(),
        "subject": kpi,
        "tenant": "acme",
        "datacontenttype": "application/json",
        "data": {
            "kpi": kpi,
            "period": "day",
            "period_start": start.isoformat(),
            "period_end": (start + timedelta(days=1)).isoformat(),
            "aggregation": "last",
            "value": value,
            "count": 1,
            "last_value": value,
            "last_at": datetime.now(UTC).isoformat(),
            "health": "unknown",
            "tags": list(tags),
        },
    }
    return json.dumps(event).encode()


def crossings(values: list[float]) -> tuple[int, int]:
    """(firings, resolutions) of an `above THRESHOLD` rule over `values`, in order."""
    firing, fired, resolved = False, 0, 0
    for value in values:
        if value > THRESHOLD and not firing:
            firing, fired = True, fired + 1
        elif value <= THRESHOLD and firing:
            firing, resolved = False, resolved + 1
    return fired, resolved


class FreezeOnChange(threading.Thread):
    """Watches the alerts database from outside and SIGSTOPs the process the moment a new
    transition is committed (history and outbox rows are written in one transaction), so the
    kill lands between the state change and its publication, if the relay has not yet been
    quick enough."""

    def __init__(self, db_file: str, pid: int, timeout_s: float) -> None:
        super().__init__(daemon=True)
        self._db_file, self._pid, self._timeout_s = db_file, pid, timeout_s
        self.saw_change = False

    def _count(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM alert_history").fetchone()[0])

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self._db_file}?mode=ro", uri=True, timeout=10)
        try:
            before = self._count(conn)
            deadline = time.monotonic() + self._timeout_s
            while time.monotonic() < deadline:
                if self._count(conn) != before:
                    self.saw_change = True
                    break
                time.sleep(0.0005)
        finally:
            conn.close()
            os.kill(self._pid, signal.SIGSTOP)


@pytest.mark.timeout(600)
async def test_sigkill_between_state_change_and_publication(
    kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("LODESTAR_FAULT_SEED", random.randrange(1 << 32)))
    print(f"fault seed: {seed} (LODESTAR_FAULT_SEED={seed} to replay)")
    kill_rng, value_rng = random.Random(seed), random.Random(seed + 1)
    databases = sqlite_urls(tmp_path)
    db_file = databases["alerts"].split("///", 1)[1]
    headers = {"Authorization": f"Bearer {admin_key}"}
    values_topic = topics.name(topics.kpi_values)
    sent: dict[str, list[float]] = {k: [] for k in KPIS}
    landed = 0
    deliveries: list[asyncio.Future[object]] = []

    await create_topics(kafka_bootstrap, [values_topic, topics.name(topics.alerts)])
    began = time.monotonic()
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls=databases,
        log_dir=tmp_path,
        services=("alerts",),
    ) as running:
        alerts = running.services["alerts"]
        producer = new_producer(kafka_bootstrap, acks="all")
        await producer.start()
        async with (
            httpx.AsyncClient(headers=headers, timeout=30) as client,
            Reader(kafka_bootstrap, topics.name(topics.alerts)) as topic,
        ):
            targets = [{"kpi": kpi} for kpi in (*KPIS, "sentinel")]
            for target in [*targets, {"selector": {"tags": ["once"]}}]:
                rule = {"name": "TooHigh", "operator": "above", "threshold": THRESHOLD, **target}
                answer = await client.post(f"{alerts.url}/v1/rules", json=rule)
                assert answer.status_code == 201, answer.text

            async def send(value: bytes, kpi: str) -> None:
                # Queued, not awaited one by one: one partition keeps them in order.
                key = f"acme/{kpi}".encode()
                deliveries.append(await producer.send(values_topic, value, key=key, partition=0))

            async def burst(first: int) -> None:
                """STEPS_PER_KILL steps, 30 ms apart: each KPI crosses the threshold at
                every step (high on even days, low on odd ones, some steps repeated)."""
                for step in range(first, first + STEPS_PER_KILL):
                    for kpi in KPIS:
                        high = step % 2 == 0 or value_rng.random() < 0.2
                        value = THRESHOLD + 50 if high else THRESHOLD - 50
                        sent[kpi].append(value)
                        await send(kpi_value(kpi, step, value), kpi)
                    await send(kpi_value(f"once-{step}", step, THRESHOLD + 1, ("once",)), "once")
                    if step >= 2:
                        low = kpi_value(f"once-{step - 2}", step, THRESHOLD - 1, ("once",))
                        await send(low, "once")
                    await asyncio.sleep(0.03)
                await asyncio.gather(*deliveries)

            try:
                kills = 0
                while kills < KILLS or (not landed and kills < MAX_KILLS):
                    kill = kills
                    kills += 1
                    producing = asyncio.create_task(burst(kill * STEPS_PER_KILL))
                    await asyncio.sleep(kill_rng.uniform(0.1, 1.0))
                    watcher = FreezeOnChange(db_file, alerts.process.pid, timeout_s=30)
                    watcher.start()
                    await asyncio.to_thread(watcher.join)
                    unpublished = await _unpublished(db_file, topic)
                    alerts.kill()
                    landed += bool(unpublished)
                    print(
                        f"{time.monotonic() - began:.1f}s: kill {kill + 1}: "
                        f"after a change={watcher.saw_change}, "
                        f"{len(unpublished)} committed events not yet published"
                    )
                    alerts.restart()
                    await asyncio.to_thread(wait_ready, alerts)
                    await producing
            finally:
                await producer.stop()
            assert landed >= 1, "no kill landed between a state change and its publication"

            expected = {k: crossings(v) for k, v in sent.items()}
            steps = kills * STEPS_PER_KILL
            once = tuple(f"once-{step}" for step in range(steps))
            fired = sum(f for f, _ in expected.values()) + steps
            await wait_until(
                lambda: _firing_count(topic, (*KPIS, *once), fired),
                timeout_s=120,
                what=f"{fired} firing alerts",
            )
            # A sentinel crossing after the stream, on the same partition: once it is
            # published, every alert of the stream before it has been.
            await _send_sentinel(kafka_bootstrap, values_topic)
            await topic.wait_for(
                lambda _: bool(_events(topic, ("sentinel",), "firing")),
                timeout_s=60,
                what="the sentinel's alert",
            )
            await topic.read_to_end()

            repeated = {
                "firing": sum(f for f, _ in expected.values()),
                "resolved": sum(r for _, r in expected.values()),
            }
            for status, count in repeated.items():
                by_id = _by_id(_events(topic, KPIS, status))
                assert len(by_id) == count, f"{status}: one event per crossing"
            for status, count in (("firing", steps), ("resolved", steps - 2)):
                by_id = _by_id(_events(topic, once, status))
                assert len(by_id) == count, f"{status}: one event per crossing"
                starts = Counter(
                    (e["data"]["fingerprint"], e["data"]["startsAt"]) for e in by_id.values()
                )
                assert len(starts) == count, f"{status}: one (fingerprint, startsAt) per crossing"
                assert set(starts.values()) == {1}


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The events by id. A record sent again (acked, then the kill before its row was
    deleted) must be the same event, byte for byte: consumers deduplicate on its id."""
    by_id = {e["id"]: e for e in events}
    assert all(e == by_id[e["id"]] for e in events)
    if len(events) != len(by_id):
        print(f"{len(events) - len(by_id)} records published again after a kill")
    return by_id


async def _unpublished(db_file: str, topic: Reader) -> set[str]:
    """Events committed to the frozen service's outbox that are not on the topic."""
    rows = await query(f"sqlite+aiosqlite:///{db_file}", "SELECT event_id FROM outbox")
    await topic.read_to_end()
    published = {json.loads(r.value)["id"] for r in topic.records if r.value}
    return {event_id for (event_id,) in rows} - published


def _events(topic: Reader, kpis: tuple[str, ...], status: str) -> list[dict[str, Any]]:
    return [
        e
        for e in topic.events()
        if e["data"]["status"] == status and e["data"]["labels"].get("kpi") in kpis
    ]


async def _firing_count(topic: Reader, kpis: tuple[str, ...], n: int) -> bool:
    await topic.poll()
    return len({e["id"] for e in _events(topic, kpis, "firing")}) >= n


async def _send_sentinel(bootstrap: str, values_topic: str) -> None:
    producer = new_producer(bootstrap, acks="all")
    await producer.start()
    try:
        value = kpi_value("sentinel", 0, THRESHOLD + 1)
        await producer.send_and_wait(values_topic, value, key=b"acme/sentinel", partition=0)
    finally:
        await producer.stop()
