"""Ingest benchmark: the ceiling, the naive hand-written sink, and Lodestar, on one topic.

    .venv/bin/python bench/ingest.py --n 200000 --db sqlite
    .venv/bin/python bench/ingest.py --n 1000000 --db postgres
    .venv/bin/python bench/ingest.py --n 200000 --db postgres --replicas 2 --only-lodestar

Follows ../shared/notes/ingest-calibration.md: N CloudEvents (~300 bytes) produced to the real
broker (deploy/kafka/kafka.sh), 4 partitions, keyed tenant/subject; 5 tenants x 20 KPIs, times
spread over 7 days, 1 % redeliveries of a recent event (same id and payload). Then, each with a
fresh consumer group on that same topic:

  1. ceiling  bare aiokafka `getmany`, no decoding, one commit at the end;
  2. naive    aiokafka + json + stdlib sqlite3 `executemany INSERT OR IGNORE` into a fresh
              SQLite file (WAL, synchronous=NORMAL), batches of 1,000, commit after each batch;
  3. lodestar the metrics service as its own process (uvicorn), validating, deduplicating,
              rolling up and relaying `kpi.values` events to Kafka.

With `--replicas R` (PostgreSQL only: one process per SQLite file), variant 3 runs twice on the
same topic, each time with a fresh database and consumer group: one metrics process, then R
processes in one group sharing the topic's partitions and one database.

Each is timed from its first record received to its last record stored with offsets committed
(for Lodestar: the service's first-batch timestamp from /metrics, to the moment the bench sees
the group's committed offsets reach the end of the topic). Checks stored = unique and
sum(rollup counts) = unique, prints events/s, the ratio 3/2 and the service's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PARTITIONS, fresh_postgres, ingest_report, service_kafka_env  # noqa: E402
from shared.auth import generate_key  # noqa: E402
from tests.support.infra import drop_postgres_database, kafka_bootstrap, postgres_url  # noqa: E402
from tests.support.kafka import client_options  # noqa: E402

TENANTS = [f"tenant{i}" for i in range(5)]
KPIS = [f"kpi{i:02d}" for i in range(20)]


# --------------------------------------------------------------------------- data


def make_events(
    n: int, seed: int = 7, *, build: bool = True
) -> tuple[list[tuple[bytes, bytes]], int]:
    """N (key, value) records; about 1 % repeat a recent event exactly. Returns the unique count.

    With `build` false only the unique count is computed (the same random draws, no records):
    what `--reuse` needs to check a topic produced by an earlier run."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 16, tzinfo=UTC)
    records: list[tuple[bytes, bytes]] = []
    unique = 0
    for i in range(n):
        if i and rng.random() < 0.01:
            if build:
                records.append(records[-rng.randint(1, min(len(records), 500))])
            else:
                rng.randint(1, min(i, 500))
            continue
        tenant, kpi = rng.choice(TENANTS), rng.choice(KPIS)
        at = start + timedelta(seconds=rng.uniform(0, 7 * 86400))
        unique += 1
        if not build:
            rng.uniform(0, 1000)
            continue
        event = {
            "specversion": "1.0",
            "type": "lodestar.kpi.measurement.v1",
            "id": str(uuid.uuid4()),
            "source": "bench/crm-sync",
            "time": at.isoformat().replace("+00:00", "Z"),
            "subject": kpi,
            "tenant": tenant,
            "datacontenttype": "application/json",
            "data": {"value": round(rng.uniform(0, 1000), 3), "dimensions": {"region": "emea"}},
        }
        records.append((f"{tenant}/{kpi}".encode(), json.dumps(event).encode()))
    return records, unique


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(
        **client_options(bootstrap), acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(bootstrap))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- variants 1 and 2


def consumer_for(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        **client_options(bootstrap),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


async def ceiling(bootstrap: str, topic: str, total: int) -> dict[str, Any]:
    consumer = consumer_for(bootstrap, topic, f"bench-ceiling-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    seen, first = 0, None
    last: dict[TopicPartition, int] = {}
    try:
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=500, max_records=1000)
            if fetched and first is None:
                first = time.perf_counter()
            for tp, records in fetched.items():
                seen += len(records)
                last[tp] = records[-1].offset + 1
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in last.items()})
        assert first is not None
        return {"seconds": time.perf_counter() - first, "stored": seen}
    finally:
        await consumer.stop()


async def naive(bootstrap: str, topic: str, total: int, path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, tenant TEXT, subject TEXT, time TEXT,"
        " value REAL)"
    )
    consumer = consumer_for(bootstrap, topic, f"bench-naive-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    seen, first = 0, None
    try:
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=500, max_records=1000)
            if not fetched:
                continue
            if first is None:
                first = time.perf_counter()
            rows = []
            for records in fetched.values():
                for r in records:
                    e = json.loads(r.value)
                    rows.append((e["id"], e["tenant"], e["subject"], e["time"], e["data"]["value"]))
            seen += len(rows)
            db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)", rows)
            db.commit()
            await consumer.commit(
                {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in fetched.items()}
            )
        assert first is not None
        seconds = time.perf_counter() - first
        (stored,) = db.execute("SELECT count(*) FROM events").fetchone()
        return {"seconds": seconds, "stored": stored}
    finally:
        await consumer.stop()
        db.close()


# --------------------------------------------------------------------------- variant 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """The metrics service as users run it: `uvicorn services.metrics.app:create_app --factory`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/uvicorn"),
                "services.metrics.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the service exited with {self.proc.returncode}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError("the service did not become ready")

    def cpu_seconds(self) -> float:
        """User + system CPU time the service has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy (a dev dependency) sampling a process, all threads, raw (collapsed) stacks."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/py-spy"),
            *("record", "--format", "raw", "--rate", "200", "--threads", "--nonblocking"),
            *("--pid", str(pid), "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def tenant_records(keys: dict[str, str]) -> list[tuple[bytes | None, bytes]]:
    """The `tenants` topic as the goals service would fill it: tenants and hashed API keys."""
    from shared.auth import hash_secret, parse_key
    from shared.events import API_KEY_V1, TENANT_V1, ApiKeyV1, TenantV1, new_event

    out: list[tuple[bytes | None, bytes]] = []
    for tenant, key in keys.items():
        key_id, secret = parse_key(key)
        for type_, data in (
            (TENANT_V1, TenantV1(slug=tenant, name=tenant)),
            (
                API_KEY_V1,
                ApiKeyV1(
                    key_id=key_id,
                    tenant=tenant,
                    name="bench",
                    secret_hash=hash_secret(secret),
                    scopes=["admin", "write", "read"],
                ),
            ),
        ):
            event = new_event(type=type_, source="bench", tenant=tenant, subject=tenant, data=data)
            out.append((event.key.encode(), event.to_json()))
    return out


async def committed_total(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


async def define_kpis(env: dict[str, str], log: Path, keys: dict[str, str]) -> None:
    """Define every tenant's KPIs through the API of a set-up run of the service that reads an
    empty topic (so the measured run starts with its definitions in place)."""
    setup = Service({**env, "LODESTAR_TOPICS__MEASUREMENTS": "kpi.measurements.setup"}, log)
    try:
        await setup.ready()
        async with httpx.AsyncClient(base_url=setup.url, timeout=30) as client:
            for tenant, key in keys.items():
                headers = {"Authorization": f"Bearer {key}"}
                deadline = time.monotonic() + 60
                while (await client.get("/v1/kpis", headers=headers)).status_code != 200:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the key of {tenant} never arrived")
                    await asyncio.sleep(0.2)
                for i, kpi in enumerate(KPIS):
                    body = {
                        "key": kpi,
                        "name": kpi,
                        "aggregation": ["sum", "avg", "min", "max", "last", "count"][i % 6],
                        "green": 500.0,
                        "amber": 250.0,
                    }
                    answer = await client.post("/v1/kpis", json=body, headers=headers)
                    assert answer.status_code == 201, answer.text
    finally:
        setup.stop()


async def lodestar(
    bootstrap: str,
    prefix: str,
    total_end: int,
    database_url: str,
    workdir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    profile: Path | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    keys = {t: generate_key()[0] for t in TENANTS}
    values_before = sum((await end_offsets(bootstrap, f"{prefix}kpi.values")).values())
    run_group = f"{prefix}lodestar-metrics-{uuid.uuid4().hex[:6]}"
    await produce(bootstrap, f"{prefix}tenants", await tenant_records(keys))
    env = {
        "LODESTAR_DATABASE_URL": database_url,
        "LODESTAR_KAFKA_BOOTSTRAP": bootstrap,
        **service_kafka_env(bootstrap),
        "LODESTAR_TOPICS__PREFIX": prefix,
        "LODESTAR_BOOTSTRAP_TENANT": TENANTS[0],
        "LODESTAR_BOOTSTRAP_ADMIN_KEY": keys[TENANTS[0]],
        "LODESTAR_SECRET_KEY": secrets.token_urlsafe(32),
        "LODESTAR_LOG_LEVEL": "WARNING",
        "LODESTAR_CONSUMER_GROUP": run_group,
        **(extra_env or {}),
    }
    log = workdir / "metrics-service.log"
    await define_kpis(env, log, keys)

    topic = f"{prefix}kpi.measurements"
    group = f"{run_group}.measurements"
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    # All replicas start at once (they join one group; the first batch starts the clock).
    services = [
        Service(env, log if i == 0 else workdir / f"metrics-service-{i}.log")
        for i in range(replicas)
    ]
    spy = None if profile is None else profiler(services[0].proc.pid, profile)
    try:
        for service in services:
            await service.ready()
        cpu_at_start = sum(service.cpu_seconds() for service in services)
        deadline = time.monotonic() + 900
        while await committed_total(admin, group, topic) < total_end:
            if any(service.proc.poll() is not None for service in services):
                raise RuntimeError("a service died; see " + str(log))
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not finish")
            await asyncio.sleep(0.02)
        done_at = time.time()
        cpu = sum(service.cpu_seconds() for service in services) - cpu_at_start
        first = min([t for service in services if (t := await first_batch_at(service))])
        # Let the relay publish the last kpi.values events, then read the peak RSS.
        for _ in range(600):
            if not await outbox_rows(database_url):
                break
            await asyncio.sleep(0.1)
        rss = max(service.peak_rss_mb() for service in services)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        for service in services:
            service.stop()
        await admin.close()
    stored, rolled, left = await lodestar_counts(database_url)
    values = sum((await end_offsets(bootstrap, f"{prefix}kpi.values")).values()) - values_before
    return {
        "seconds": done_at - first,
        "stored": stored,
        "rolled_up": rolled,
        "outbox_left": left,
        "kpi_values": values,
        "rss_mb": rss,
        "cpu_s": cpu,
    }


async def first_batch_at(service: Service) -> float | None:
    """The service's first-batch timestamp (from /metrics), None if it took no batch."""
    async with httpx.AsyncClient(base_url=service.url) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("lodestar_metrics_first_batch_timestamp_seconds "):
            value = float(line.split()[1])
            return value or None
    return None


async def _query(database_url: str, sql: str) -> Any:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchone()[0]
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def outbox_rows(database_url: str) -> int:
    return int(await _query(database_url, "SELECT count(*) FROM outbox"))


async def lodestar_counts(database_url: str) -> tuple[int, int, int]:
    stored = int(await _query(database_url, "SELECT count(*) FROM measurements"))
    rolled = int(await _query(database_url, "SELECT coalesce(sum(count), 0) FROM rollups"))
    return stored, rolled, await outbox_rows(database_url)


# --------------------------------------------------------------------------- main


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="events to produce")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--keep", type=Path, help="keep databases and the service log here")
    # For iterating on the service (the published figures use none of these):
    parser.add_argument(
        "--reuse", metavar="PREFIX", help="measure the topic an earlier run produced (its prefix)"
    )
    parser.add_argument(
        "--only-lodestar", action="store_true", help="skip the ceiling and the naive sink"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra LODESTAR_* setting for the service (repeatable)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the service (raw format) into PATH")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="also measure this many metrics processes in one group (PostgreSQL only)",
    )
    args = parser.parse_args()
    if args.replicas > 1 and args.db != "postgres":
        parser.error("--replicas needs --db postgres (one process per SQLite file)")

    bootstrap = kafka_bootstrap()
    if args.reuse:
        prefix = args.reuse
        topic = f"{prefix}kpi.measurements"
        _, unique = make_events(args.n, build=False)
        print(f"reusing {topic} ({unique:,} unique)", flush=True)
    else:
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        topic = f"{prefix}kpi.measurements"
        await create_topics(
            bootstrap,
            topic,
            f"{prefix}kpi.measurements.setup",
            f"{prefix}kpi.values",
            f"{prefix}tenants",
            f"{prefix}kpi.measurements.dlq",
        )
        records, unique = make_events(args.n)
        print(f"producing {args.n:,} events ({unique:,} unique) to {topic} ...", flush=True)
        await produce(bootstrap, topic, list(records))
        del records
    total = sum((await end_offsets(bootstrap, topic)).values())
    assert total == args.n, (total, args.n)
    extra_env = dict(item.split("=", 1) for item in args.set)

    with tempfile.TemporaryDirectory(prefix="lodestar-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        skipped = {"seconds": float("nan"), "stored": unique}
        if args.only_lodestar:
            bare, hand = skipped, skipped
        else:
            print("1/3 ceiling ...", flush=True)
            bare = await ceiling(bootstrap, topic, total)
            print("2/3 naive sink ...", flush=True)
            hand = await naive(bootstrap, topic, total, workdir / "naive.db")
        counts = sorted({1, args.replicas})
        ours: dict[int, dict[str, Any]] = {}
        for replicas in counts:
            print(
                f"3/3 lodestar metrics service ({args.db}, {replicas} replica(s)) ...", flush=True
            )
            if args.db == "sqlite":
                url = f"sqlite+aiosqlite:///{workdir}/metrics-{uuid.uuid4().hex[:6]}.db"
            else:
                url = await fresh_postgres()
            try:
                ours[replicas] = await lodestar(
                    bootstrap,
                    prefix,
                    total,
                    url,
                    workdir,
                    extra_env=extra_env,
                    profile=args.profile,
                    replicas=replicas,
                )
            finally:
                if args.db == "postgres" and not args.keep:
                    await drop_postgres_database(postgres_url(), str(make_url(url).database))

    ingest_report(args.n, unique, prefix, args.db, bare, hand, ours)
    ok = hand["stored"] == unique
    ok &= all(r["stored"] == unique and r["rolled_up"] == unique for r in ours.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
