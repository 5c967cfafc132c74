"""End-to-end latency of the KPI ↔ OKR loop with the three services as processes.

    python bench/e2e_latency.py [--rate 1000] [--seconds 20] [--kpis 50] [--tenants 1]
                                [--db sqlite|postgres] [--proof] [--hops] [--profile DIR]
                                [--warmup 5]

Starts the real broker (deploy/kafka/kafka.sh) and goals, metrics and alerts as uvicorn
processes on SQLite (or, with `--db postgres`, each on a fresh database of the project's
PostgreSQL server, deploy/postgres/postgres.sh, dropped after the run), defines K KPIs spread
over N tenants (`--tenants`: each tenant with its own admin key and its own KPIs, rules, cycle,
objective and key results), one threshold rule per KPI and one key result linked to each KPI,
then produces measurements at a steady rate (after `--warmup` seconds of the same load, not
timed), round-robin over the KPIs, alternating
above and below the threshold so every measurement is a transition. Each value is unique, so
an alert on `alerts` or a KR progress event on `okr.events` that carries it is matched to its
measurement: latency = time received minus time produced, on one clock. When two measurements of
one KPI land in the same ingest batch, or their `kpi.values` in the same batch of goals or
alerts, only the newer surfaces (KRs and alerts follow the KPI's latest value); those are
counted as superseded, not timed. `--hops` also times measurement → `kpi.values` (the metrics
hop), with one more consumer on the machine. `--profile DIR` records the three service processes
with py-spy while the measurements flow (DIR/goals.txt, metrics.txt, alerts.txt: collapsed
stacks); py-spy needs ptrace rights (root here).

The first tenant is the platform's bootstrap tenant (acme); the others' admin keys are
installed in each service's database before the services start, as each service installs the
bootstrap key (`shared.auth.install_bootstrap_key`: the tenant and the key). Every measurement
is signed with its tenant's key (`shared.ingest_proof`); `--proof` makes metrics require it
(LODESTAR_INGEST_REQUIRE_PROOF, the production default; the test platform turns it off).

Baseline, measured in the same run on the same broker: a bare produce → consume hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Collector, CpuMeter, broker_pid, pace, percentiles, wait_for  # noqa: E402
from shared.auth import generate_key, install_bootstrap_key  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.ingest_proof import sign  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.settings import Topics  # noqa: E402
from tests.support.infra import (  # noqa: E402
    create_postgres_database,
    drop_postgres_database,
    kafka_bootstrap,
    postgres_url,
)
from tests.support.kafka import client_options  # noqa: E402
from tests.support.processes import SERVICES, Platform, platform, sqlite_urls  # noqa: E402

THRESHOLD = 1_000_000.0
TENANT = "acme"
MAX_KPIS = 5000
SETUP_LANES = 8  # definitions posted at once (3 per KPI; 5,000 KPIs one by one took long)
SETUP_RETRIES = 5  # a definition refused with 502-504 or a broken connection is posted again
QUOTAS = {  # a tenant of MAX_KPIS KPIs, rules and key results
    "LODESTAR_MAX_KPIS_PER_TENANT": str(MAX_KPIS),
    "LODESTAR_MAX_RULES_PER_TENANT": str(MAX_KPIS),
}


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """No cyclic GC in this process while it times: the collectors stamp arrivals, and a full
    collection of its heap (the arrival lists grow by thousands a second) held them up to
    ~110 ms (a `gc.callbacks` probe), which the timings would have charged to the services."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def measurement(tenant: str, kpi: str, value: float) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "type": "lodestar.kpi.measurement.v1",
            "id": str(uuid.uuid4()),
            "source": "bench/e2e",
            "time": datetime.now(UTC).isoformat(),
            "subject": kpi,
            "tenant": tenant,
            "datacontenttype": "application/json",
            "data": {"value": value},
        }
    ).encode()


async def kafka_hop_baseline(bootstrap: str, topic: str, rate: int, seconds: float) -> list[float]:
    """The same produce pattern straight through the broker to a consumer."""
    collector = Collector(bootstrap, topic)
    await collector.start()
    producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        await pace(rate, seconds, lambda i: _send_stamp(producer, topic, i, sent))
        await wait_for(lambda: len(collector.arrivals) >= len(sent), 30)
    finally:
        await producer.stop()
        await collector.stop()
    return [at - sent[e["i"]] for at, e in collector.arrivals if e["i"] in sent]


async def _send_stamp(
    producer: AIOKafkaProducer, topic: str, i: int, sent: dict[str, float]
) -> None:
    key = str(i)
    sent[key] = time.perf_counter()
    await producer.send(topic, json.dumps({"i": key}).encode(), key=key.encode())


async def settle(collectors: list[Collector], quiet_s: float, deadline_s: float) -> None:
    """Wait until no collector has received anything for `quiet_s` (or the deadline)."""
    deadline = time.monotonic() + deadline_s
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_seen = sum(len(c.arrivals) for c in collectors)
        if now_seen != seen:
            seen, quiet_since = now_seen, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        await asyncio.sleep(0.1)


async def setup_tenant(
    client: httpx.AsyncClient, urls: dict[str, str], key: str, kpis: Iterable[str]
) -> None:
    """One tenant's cycle and objective, then its KPIs, rules and key results (with its key)."""
    headers = {"Authorization": f"Bearer {key}"}
    now = datetime.now(UTC)

    async def post(url: str, body: dict[str, Any]) -> Any:
        for attempt in range(SETUP_RETRIES + 1):
            try:
                answer = await client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == SETUP_RETRIES:
                    raise SystemExit(f"POST {url}: {exc!r}") from exc
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if answer.status_code in (502, 503, 504) and attempt < SETUP_RETRIES:
                # A service busy or between two connections to another (goals asks metrics
                # about the KPI of each key result): the same definition again.
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if answer.status_code == 409 and attempt:
                return answer.json()  # made by the attempt whose answer was lost
            if answer.status_code not in (200, 201):
                raise SystemExit(f"POST {url}: {answer.status_code} {answer.text}")
            return answer.json()
        raise AssertionError("unreachable")

    cycle = await post(
        f"{urls['goals']}/v1/cycles",
        {
            "name": "bench",
            "starts_at": (now - timedelta(days=30)).isoformat(),
            "ends_at": (now + timedelta(days=60)).isoformat(),
        },
    )
    await post(f"{urls['goals']}/v1/cycles/{cycle['id']}/activate", {})
    objective = await post(
        f"{urls['goals']}/v1/objectives",
        {"cycle_id": cycle["id"], "title": "Latency", "owner": "bench"},
    )
    lanes = asyncio.Semaphore(SETUP_LANES)

    async def define(kpi: str) -> None:
        async with lanes:
            kpi_body = {"key": kpi, "name": kpi, "aggregation": "last"}
            await post(f"{urls['metrics']}/v1/kpis", kpi_body)
            await post(
                f"{urls['alerts']}/v1/rules",
                {"name": f"High_{kpi}", "kpi": kpi, "operator": "above", "threshold": THRESHOLD},
            )
            await post(
                f"{urls['goals']}/v1/objectives/{objective['id']}/key-results",
                {
                    "title": kpi,
                    "kind": "increase",
                    "start": 0,
                    "target": 2 * THRESHOLD,
                    "kpi": kpi,
                    "kpi_aggregation": "last",
                },
            )

    await asyncio.gather(*(define(kpi) for kpi in kpis))


async def setup(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    keys: dict[str, str],
    kpis: list[tuple[str, str]],
) -> None:
    """Every tenant's definitions; the tenants one after the other, each SETUP_LANES wide."""
    for tenant, key in keys.items():
        await setup_tenant(client, urls, key, [kpi for t, kpi in kpis if t == tenant])


async def install_tenants(databases: dict[str, str], keys: dict[str, str]) -> None:
    """Each tenant and its admin key in each service's database (migrated here first), as
    each service installs its bootstrap tenant's key at start-up."""
    for name in SERVICES:
        db = Database(databases[name])
        try:
            await upgrade(db, ROOT / "services" / name / "migrations")
            async with db.transaction() as session:
                for tenant, key in keys.items():
                    await install_bootstrap_key(session, tenant, key, name="bench")
        finally:
            await db.dispose()


@contextlib.asynccontextmanager
async def service_databases(kind: str, tmp: str) -> AsyncIterator[dict[str, str]]:
    """Each service's database: SQLite files in `tmp`, or fresh PostgreSQL databases (the
    project's server, started if needed), dropped on exit."""
    if kind == "sqlite":
        yield sqlite_urls(tmp)
        return
    server = postgres_url()
    created = {name: await create_postgres_database(server) for name in SERVICES}
    try:
        yield {name: url for name, (url, _) in created.items()}
    finally:
        for _, database in created.values():
            await drop_postgres_database(server, database)


def profilers(args: argparse.Namespace, pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service process for the measuring time (DIR/<service>.txt, collapsed
    stacks), or none without `--profile`."""
    if args.profile is None:
        return []
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    seconds = str(max(1, int(args.seconds)))
    return [
        subprocess.Popen(
            [
                *(str(spy), "record", "-p", str(pid), "-d", seconds, "-r", "50"),
                *("--nonblocking", "-f", "raw", "-o", str(out / f"{name}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


async def measure(
    args: argparse.Namespace,
    running: Platform,
    bootstrap: str,
    topics: Topics,
    keys: dict[str, str],
    kpis: list[tuple[str, str]],
    sent: dict[float, float],
) -> tuple[int, float, float, list[Collector], CpuMeter]:
    """Define everything, then produce at the rate and collect what comes out: (measurements
    sent, the rate achieved, the seconds the setup took, the collectors: alerts, okr.events
    and, with `--hops`, kpi.values; the cores each process kept busy while sending). `sent`
    gets each value's send time."""
    urls = {n: running.url(n) for n in ("goals", "metrics", "alerts")}
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        await setup(client, urls, keys, kpis)
    setup_s = time.perf_counter() - started
    print(f"setup: {len(kpis)} KPIs, rules and KRs, {len(keys)} tenant(s): {setup_s:.1f} s")
    collectors = [
        Collector(bootstrap, topics.name(topics.alerts)),
        Collector(bootstrap, topics.name(topics.okr_events)),
    ]
    if args.hops:
        collectors.append(Collector(bootstrap, topics.name(topics.kpi_values)))
    for collector in collectors:
        await collector.start()
    producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", linger_ms=0)
    await producer.start()
    topic = topics.name(topics.measurements)

    warm = 0

    async def send(i: int, *, timed: bool = True) -> None:
        # Alternate above/below the threshold per KPI, on from the warm-up's last; every
        # value is unique, a warm-up one ends in .5 and is not timed.
        n = i + warm if timed else i
        tenant, kpi = kpis[n % len(kpis)]
        above = (n // len(kpis)) % 2 == 0
        value = (THRESHOLD + 1 + n if above else float(n)) + (0 if timed else 0.5)
        raw = measurement(tenant, kpi, value)
        if timed:
            sent[value] = time.perf_counter()
        await producer.send(
            topic, raw, key=f"{tenant}/{kpi}".encode(), headers=[sign(keys[tenant], raw)]
        )

    if args.warmup > 0:
        # The same load, untimed, before the timed window: the first seconds of a platform
        # fill caches, grow the databases' files and build the period rows, and a series'
        # first run otherwise measures that.
        warm = await pace(args.rate, args.warmup, lambda i: send(i, timed=False))
        print(f"warm-up: {warm} measurements at the rate, not timed")

    with no_gc():
        pids = {n: running.services[n].process.pid for n in ("goals", "metrics", "alerts")}
        spies = profilers(args, pids)
        broker = broker_pid()
        meter = CpuMeter(pids | {"bench": os.getpid()} | ({"broker": broker} if broker else {}))
        meter.start()
        started = time.perf_counter()
        total = await pace(args.rate, args.seconds, send)
        rate = total / (time.perf_counter() - started)
        meter.stop()
        for spy in spies:
            spy.wait()
        await producer.stop()
        await settle(collectors, quiet_s=2.0, deadline_s=args.drain)
    for collector in collectors:
        await collector.stop()
    return total, rate, setup_s, collectors, meter


async def run(args: argparse.Namespace) -> None:
    bootstrap = kafka_bootstrap()
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:8]}.")
    admin_key = generate_key()[0]
    if not 1 <= args.kpis <= MAX_KPIS:
        raise SystemExit(f"--kpis is 1..{MAX_KPIS}")
    if not 1 <= args.tenants <= args.kpis:
        raise SystemExit("--tenants is 1..--kpis")
    tenants = [TENANT, *(f"t{j:03d}" for j in range(1, args.tenants))]
    keys = {TENANT: admin_key} | {tenant: generate_key()[0] for tenant in tenants[1:]}
    # KPI i belongs to tenant i mod N: round-robin sending spreads the load evenly too.
    kpis = [(tenants[i % len(tenants)], f"k{i:04d}") for i in range(args.kpis)]
    env = QUOTAS | {"LODESTAR_INGEST_REQUIRE_PROOF": "true"} if args.proof else QUOTAS
    sent: dict[float, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with service_databases(args.db, tmp) as databases:
            await install_tenants(databases, {t: k for t, k in keys.items() if t != TENANT})
            with platform(
                bootstrap=bootstrap,
                topics=topics,
                admin_key=admin_key,
                database_urls=databases,
                log_dir=Path(tmp),
                extra_env=env,
            ) as running:
                total, rate, setup_s, collectors, meter = await measure(
                    args, running, bootstrap, topics, keys, kpis, sent
                )
    alerts, okr, *hops = collectors
    alert_lat = [
        at - sent[e["data"]["value"]] for at, e in alerts.arrivals if e["data"].get("value") in sent
    ]
    kr_lat = [
        at - sent[e["data"]["current"]]
        for at, e in okr.arrivals
        if e["type"] == "lodestar.kr.progress.v1" and e["data"].get("current") in sent
    ]
    value_lat = [
        at - sent[e["data"]["last_value"]]
        for hop in hops
        for at, e in hop.arrivals
        if e["data"].get("last_value") in sent
    ]
    firing = sum(1 for _, e in alerts.arrivals if e["type"] == "lodestar.alert.firing.v1")
    reached = {
        "alerts": len({e["tenant"] for _, e in alerts.arrivals}),
        "KR": len({e["tenant"] for _, e in okr.arrivals if e["type"] == "lodestar.kr.progress.v1"}),
    }

    with no_gc():
        baseline = await kafka_hop_baseline(
            bootstrap, f"{topics.prefix}baseline", args.rate, min(args.seconds, 10)
        )
    print(
        f"\nE2E latency — {total} measurements at {rate:,.0f}/s over {args.kpis} KPIs in "
        f"{args.tenants} tenant(s) ({os.cpu_count()} cores, real broker, services on {args.db}"
        f"{', tenant proofs required' if args.proof else ''}; setup {setup_s:.1f} s)"
    )
    print(f"{'path':<44}{'timed':>8}   latency")
    rows = [
        ("baseline: bare Kafka produce → consume", baseline),
        ("measurement → kpi.values (metrics hop)", value_lat),
        ("measurement → alert on alerts", alert_lat),
        ("measurement → KR progress on okr.events", kr_lat),
    ]
    for label, samples in rows if args.hops else rows[:1] + rows[2:]:
        print(f"{label:<44}{len(samples):>8}   {percentiles(samples)}")
    print(
        f"firing alerts: {firing}; measurements superseded in a batch (not timed): "
        f"alerts {total - len(alert_lat)}, KR {total - len(kr_lat)}; tenants with results: "
        f"alerts {reached['alerts']}/{args.tenants}, KR {reached['KR']}/{args.tenants}"
    )
    print(meter.report())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="measurements per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--kpis", type=int, default=50, help=f"at most {MAX_KPIS}")
    parser.add_argument(
        "--tenants", type=int, default=1, help="the KPIs spread over this many tenants"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--proof",
        action="store_true",
        help="metrics requires each measurement's tenant proof (as in production)",
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the three services into DIR/<service>.txt"
    )
    parser.add_argument(
        "--hops",
        action="store_true",
        help="also time measurement → kpi.values (one more consumer on the machine)",
    )
    parser.add_argument(
        "--drain", type=float, default=60, help="most seconds to wait for stragglers"
    )
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds of the same load, untimed, first"
    )
    asyncio.run(run(parser.parse_args()))
