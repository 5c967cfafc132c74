"""What the benchmarks share: pacing, collecting a topic with arrival times, percentiles, bare
consumer baselines, committed offsets and fresh PostgreSQL databases.

Imported by the bench scripts after they put the repository on `sys.path`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.infra import create_postgres_database, postgres_url, run_script
from tests.support.kafka import client_options, passwords

PARTITIONS = 4  # of every topic the benches use (the broker's num.partitions)


def service_kafka_env(bootstrap: str) -> dict[str, str]:
    """A bench's service connects as the broker's admin: the benches use topics and consumer
    groups of their own, outside the deployment's ACLs. They produce raw measurements, so
    metrics takes them without a tenant proof (README "Security"; the proof's check, one key
    lookup per batch and an HMAC per record, is not in these figures)."""
    return {
        "LODESTAR_KAFKA_USERNAME": "admin",
        "LODESTAR_KAFKA_PASSWORD": passwords(bootstrap)["admin"],
        "LODESTAR_INGEST_REQUIRE_PROOF": "false",
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far, every thread (`/proc/PID/stat`)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent on anything but idling and waiting for I/O
    since boot (`/proc/stat`): what the database server's processes and everything else
    running cost too."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(field) for field in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The process of this checkout's broker (`deploy/kafka/kafka.sh pid`), if it runs; not
    another checkout's broker on the same machine."""
    try:
        return int(run_script("deploy/kafka/kafka.sh", "pid"))
    except (RuntimeError, ValueError):
        return None


class CpuMeter:
    """The cores each process kept busy between `start()` and `stop()` (CPU seconds over wall
    seconds), printed beside the latencies: on a machine of two cores, the services, the broker
    and the bench itself share them. The whole machine's figure beside their sum says what
    the rest took: PostgreSQL's server processes, and whatever else runs on the host."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._started: dict[str, float] = {}
        self._machine = 0.0
        self._wall = 0.0
        self.cores: dict[str, float] = {}
        self.machine = 0.0

    def start(self) -> None:
        self._started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> None:
        wall = time.perf_counter() - self._wall
        self.cores = {
            name: (cpu_seconds(pid) - self._started[name]) / wall for name, pid in self.pids.items()
        }
        self.machine = (machine_busy_seconds() - self._machine) / wall

    def report(self) -> str:
        parts = [f"{name} {cores:.2f}" for name, cores in self.cores.items()]
        return (
            f"cores busy while sending: {', '.join(parts)}; sum {sum(self.cores.values()):.2f}; "
            f"whole machine {self.machine:.2f} of {os.cpu_count()}"
        )


def percentiles(samples: list[float]) -> str:
    if len(samples) < 2:
        return "n/a"
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return (
        f"p50 {q[49] * 1000:7.1f} ms   p95 {q[94] * 1000:7.1f} ms   "
        f"p99 {q[98] * 1000:7.1f} ms   max {max(samples) * 1000:7.1f} ms"
    )


class Collector:
    """Reads a topic from the start and stamps each record with its arrival time."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self._consumer = AIOKafkaConsumer(
            topic, **client_options(bootstrap), group_id=None, auto_offset_reset="earliest"
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            fetched = await self._consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for records in fetched.values():
                self.arrivals.extend((now, json.loads(r.value)) for r in records)

    async def stop(self) -> None:
        if self._task:
            if self._task.done():  # it died: say why rather than report missing records
                self._task.result()
            self._task.cancel()
        await self._consumer.stop()


async def wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return False


async def pace(rate: int, seconds: float, send: Any) -> int:
    """Call `send(i)` at `rate` per second for `seconds`, in 10 ms ticks; returns the count."""
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            await send(sent)
            sent += 1
        await asyncio.sleep(0.01)
    return sent


async def committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


async def end_total(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(**client_options(bootstrap))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def bare_consumer(bootstrap: str, topic: str, total: int) -> float:
    """Events/s of a bare aiokafka consumer (fresh group) reading `total` records of `topic`."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap),
        group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
    )
    await consumer.start()
    try:
        seen, first = 0, None
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=200, max_records=2000)
            for records in fetched.values():
                if first is None:
                    first = time.perf_counter()
                seen += len(records)
        assert first is not None
        await consumer.commit()
        return total / (time.perf_counter() - first)
    finally:
        await consumer.stop()


async def fresh_postgres() -> str:
    """A new database on the project's PostgreSQL server (started if needed): its URL."""
    url, _name = await create_postgres_database(postgres_url())
    return url


def ingest_report(
    n: int,
    unique: int,
    prefix: str,
    db: str,
    bare: dict[str, Any],
    hand: dict[str, Any],
    ours: dict[int, dict[str, Any]],
) -> None:
    """The table and checks `bench/ingest.py` prints (variant 3 once per replica count)."""
    rows: list[tuple[str, dict[str, Any], Any]] = [
        ("1. ceiling: bare aiokafka, no processing", bare, "-"),
        ("2. naive sink: json + sqlite3 executemany", hand, hand["stored"]),
    ]
    for replicas, result in ours.items():
        label = f"3. Lodestar metrics service ({db})"
        if len(ours) > 1:
            label += f", {replicas} replica{'s' if replicas > 1 else ''}"
        rows.append((label, result, result["stored"]))
    print()
    print(f"N = {n:,} events, {unique:,} unique, {PARTITIONS} partitions, db = {db}")
    print(f"topic prefix: {prefix} (measure it again with --reuse {prefix})")
    print()
    print("| variant | seconds | events/s | stored |")
    print("|---|---:|---:|---:|")
    for name, result, stored in rows:
        rate = n / result["seconds"]
        shown = f"{stored:,}" if isinstance(stored, int) else stored
        print(f"| {name} | {result['seconds']:.2f} | {rate:,.0f} | {shown} |")
    print()
    for replicas, result in ours.items():
        cpu = result["cpu_s"]
        print(
            f"{replicas} replica(s): ratio (3)/(2) {hand['seconds'] / result['seconds']:.2f}; "
            f"peak RSS (VmHWM, largest process) {result['rss_mb']:.0f} MB; CPU from ready to "
            f"done {cpu:.1f} s ({cpu / result['seconds']:.0%} of a core, "
            f"{cpu / n * 1e6:.1f} µs/event); stored = unique: {result['stored'] == unique}; "
            f"sum(rollup counts) = unique: {result['rolled_up'] == unique}; kpi.values events "
            f"relayed: {result['kpi_values']:,} (outbox left: {result['outbox_left']})"
        )
    print(f"naive stored = unique: {hand['stored'] == unique}")
