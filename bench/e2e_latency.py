"""End-to-end latency of the KPI ↔ OKR loop with the three services as processes.

    python bench/e2e_latency.py [--rate 1000] [--seconds 20] [--kpis 50] [--hops]
                                [--profile DIR]

Starts the real broker (deploy/kafka/kafka.sh) and goals, metrics and alerts as uvicorn
processes on SQLite, defines K KPIs, one threshold rule per KPI and one key result linked to
each KPI, then produces measurements at a steady rate, round-robin over the KPIs, alternating
above and below the threshold so every measurement is a transition. Each value is unique, so
an alert on `alerts` or a KR progress event on `okr.events` that carries it is matched to its
measurement: latency = time received minus time produced, on one clock. When two measurements of
one KPI land in the same ingest batch, or their `kpi.values` in the same batch of goals or
alerts, only the newer surfaces (KRs and alerts follow the KPI's latest value); those are
counted as superseded, not timed. `--hops` also times measurement → `kpi.values` (the metrics
hop), with one more consumer on the machine. `--profile DIR` records the three service processes
with py-spy while the measurements flow (DIR/goals.txt, metrics.txt, alerts.txt: collapsed
stacks); py-spy needs ptrace rights (root here).

Baseline, measured in the same run on the same broker: a bare produce → consume hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Collector, pace, percentiles, wait_for  # noqa: E402
from shared.auth import generate_key  # noqa: E402
from shared.settings import Topics  # noqa: E402
from tests.support.infra import kafka_bootstrap  # noqa: E402
from tests.support.kafka import client_options  # noqa: E402
from tests.support.processes import platform, sqlite_urls  # noqa: E402

THRESHOLD = 1_000_000.0
TENANT = "acme"
MAX_KPIS = 5000
SETUP_LANES = 8  # definitions posted at once (3 per KPI; 5,000 KPIs one by one took long)
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


async def setup(client: httpx.AsyncClient, urls: dict[str, str], kpis: Iterable[str]) -> None:
    now = datetime.now(UTC)
    cycle = (
        await client.post(
            f"{urls['goals']}/v1/cycles",
            json={
                "name": "bench",
                "starts_at": (now - timedelta(days=30)).isoformat(),
                "ends_at": (now + timedelta(days=60)).isoformat(),
            },
        )
    ).json()
    await client.post(f"{urls['goals']}/v1/cycles/{cycle['id']}/activate", json={})
    objective = (
        await client.post(
            f"{urls['goals']}/v1/objectives",
            json={"cycle_id": cycle["id"], "title": "Latency", "owner": "bench"},
        )
    ).json()
    lanes = asyncio.Semaphore(SETUP_LANES)

    async def define(key: str) -> None:
        async with lanes:
            for url, body in (
                (f"{urls['metrics']}/v1/kpis", {"key": key, "name": key, "aggregation": "last"}),
                (
                    f"{urls['alerts']}/v1/rules",
                    {
                        "name": f"High_{key}",
                        "kpi": key,
                        "operator": "above",
                        "threshold": THRESHOLD,
                    },
                ),
                (
                    f"{urls['goals']}/v1/objectives/{objective['id']}/key-results",
                    {
                        "title": key,
                        "kind": "increase",
                        "start": 0,
                        "target": 2 * THRESHOLD,
                        "kpi": key,
                        "kpi_aggregation": "last",
                    },
                ),
            ):
                answer = await client.post(url, json=body)
                if answer.status_code != 201:
                    raise SystemExit(f"POST {url}: {answer.status_code} {answer.text}")

    await asyncio.gather(*(define(key) for key in kpis))


def profilers(args: argparse.Namespace, pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service process for the measuring time (DIR/<service>.txt, collapsed
    stacks), or none without `--profile`."""
    if args.profile is None:
        return []
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    seconds = str(max(1, int(args.seconds)))
    command = [str(spy), "record", "-d", seconds, "-r", "50", "--nonblocking", "-f", "raw"]
    return [
        subprocess.Popen(
            [*command, "-p", str(pid), "-o", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


async def run(args: argparse.Namespace) -> None:
    bootstrap = kafka_bootstrap()
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:8]}.")
    admin_key = generate_key()[0]
    if not 1 <= args.kpis <= MAX_KPIS:
        raise SystemExit(f"--kpis is 1..{MAX_KPIS}")
    kpis = [f"k{i:04d}" for i in range(args.kpis)]
    with tempfile.TemporaryDirectory() as tmp:
        databases = sqlite_urls(tmp)
        with platform(
            bootstrap=bootstrap,
            topics=topics,
            admin_key=admin_key,
            database_urls=databases,
            log_dir=Path(tmp),
            extra_env=QUOTAS,
        ) as running:
            urls = {n: running.url(n) for n in ("goals", "metrics", "alerts")}
            headers = {"Authorization": f"Bearer {admin_key}"}
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                await setup(client, urls, kpis)
            alerts = Collector(bootstrap, topics.name(topics.alerts))
            okr = Collector(bootstrap, topics.name(topics.okr_events))
            collectors = [alerts, okr]
            if args.hops:
                values = Collector(bootstrap, topics.name(topics.kpi_values))
                collectors.append(values)
            for collector in collectors:
                await collector.start()
            producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", linger_ms=0)
            await producer.start()
            sent: dict[float, float] = {}
            topic = topics.name(topics.measurements)

            async def send(i: int) -> None:
                # Alternate above/below the threshold per KPI; every value is unique.
                kpi, tenant = kpis[i % len(kpis)], TENANT
                above = (i // len(kpis)) % 2 == 0
                value = THRESHOLD + 1 + i if above else float(i)
                sent[value] = time.perf_counter()
                await producer.send(
                    topic, measurement(tenant, kpi, value), key=f"{tenant}/{kpi}".encode()
                )

            with no_gc():
                spies = profilers(args, {n: s.process.pid for n, s in running.services.items()})
                started = time.perf_counter()
                total = await pace(args.rate, args.seconds, send)
                rate = total / (time.perf_counter() - started)
                for spy in spies:
                    spy.wait()
                await producer.stop()
                await settle(collectors, quiet_s=2.0, deadline_s=args.drain)
            for collector in collectors:
                await collector.stop()

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
        for at, e in (values.arrivals if args.hops else [])
        if e["data"].get("last_value") in sent
    ]
    firing = sum(1 for _, e in alerts.arrivals if e["type"] == "lodestar.alert.firing.v1")

    with no_gc():
        baseline = await kafka_hop_baseline(
            bootstrap, f"{topics.prefix}baseline", args.rate, min(args.seconds, 10)
        )
    print(
        f"\nE2E latency — {total} measurements at {rate:,.0f}/s over {args.kpis} KPIs "
        f"(2 cores, real broker, services on SQLite)"
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
        f"alerts {total - len(alert_lat)}, KR {total - len(kr_lat)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="measurements per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--kpis", type=int, default=50, help=f"at most {MAX_KPIS}")
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
    asyncio.run(run(parser.parse_args()))
