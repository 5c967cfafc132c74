"""How fast the goals service follows `kpi.values`: throughput, and produce → KR progress latency.

    .venv/bin/python bench/goals_follow.py [--n 20000] [--kpis 20] [--rate 1000] [--seconds 15]
                                           [--db sqlite|postgres]

Starts the real broker (deploy/kafka/kafka.sh) and the goals service as its own uvicorn process
(metrics is replaced by a stub that answers goals' KPI look-ups, so only goals spends CPU), opens
one active cycle with one objective and K key results, each linked to its own KPI ("increase",
aggregation `last`), then produces `lodestar.kpi.value.v1` events round-robin over the KPIs, all
in today's day period, as metrics emits them. Every value is unique, so the
`lodestar.kr.progress.v1` on `okr.events` whose `current` carries it is matched to its event on
one clock. Several values of one KPI period in one consumer batch: only the newest moves the KR
(the others are "superseded", counted, not timed).

  1. throughput  N events produced as fast as the producer goes; handled events/s = N / (time
                 from the first event produced to goals' committed offsets reaching the end of
                 the topic). Baseline: a bare aiokafka consumer (fresh group) reading those N.
  2. latency     events at a steady `--rate` for `--seconds`; produce → KR progress on
                 `okr.events`, p50/p95/p99. Baseline: a bare consumer reading `kpi.values` at
                 the same time (produce → consume of the very same events).

Also reported: the goals process's CPU time (user + system, every thread) per event of each
phase. `--profile FILE` records py-spy's collapsed stacks of the service over both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PARTITIONS,
    Collector,
    bare_consumer,
    committed,
    end_total,
    fresh_postgres,
    pace,
    percentiles,
    service_kafka_env,
    wait_for,
)
from shared.auth import generate_key  # noqa: E402
from shared.settings import Topics  # noqa: E402
from tests.support.infra import kafka_bootstrap  # noqa: E402
from tests.support.kafka import client_options  # noqa: E402
from tests.support.processes import free_port, start_service, wait_ready  # noqa: E402

TENANT = "acme"
TARGET = 1e12  # far above every value: each value is a new `current` and a new progress


def kpi_value(kpi: str, value: float, period_start: datetime) -> bytes:
    now = datetime.now(UTC)
    return json.dumps(
        {
            "specversion": "1.0",
            "type": "lodestar.kpi.value.v1",
            "id": str(uuid.uuid4()),
            "source": "lodestar/metrics",
            "time": now.isoformat(),
            "subject": kpi,
            "tenant": TENANT,
            "datacontenttype": "application/json",
            "data": {
                "kpi": kpi,
                "period": "day",
                "period_start": period_start.isoformat(),
                "period_end": (period_start + timedelta(days=1)).isoformat(),
                "aggregation": "last",
                "value": value,
                "count": 1,
                "last_value": value,
                "last_at": now.isoformat(),
                "health": "unknown",
                "direction": "higher",
                "tags": [],
            },
        }
    ).encode()


class MetricsStub(BaseHTTPRequestHandler):
    """`GET /v1/kpis/{key}`: every key is a daily KPI aggregated with `last`."""

    def do_GET(self) -> None:
        key = self.path.rstrip("/").split("/")[-1]
        body = json.dumps(
            {"key": key, "name": key, "aggregation": "last", "period": "day"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


async def setup(client: httpx.AsyncClient, url: str, kpis: list[str]) -> None:
    now = datetime.now(UTC)

    async def post(path: str, body: dict[str, Any], status: int = 201) -> Any:
        answer = await client.post(f"{url}{path}", json=body)
        if answer.status_code != status:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text}")
        return answer.json()

    cycle = await post(
        "/v1/cycles",
        {
            "name": "bench",
            "starts_at": (now - timedelta(days=30)).isoformat(),
            "ends_at": (now + timedelta(days=60)).isoformat(),
        },
    )
    await post(f"/v1/cycles/{cycle['id']}/activate", {}, 200)
    objective = await post(
        "/v1/objectives", {"cycle_id": cycle["id"], "title": "Follow", "owner": "bench"}
    )
    for key in kpis:
        await post(
            f"/v1/objectives/{objective['id']}/key-results",
            {
                "title": key,
                "kind": "increase",
                "start": 0,
                "target": TARGET,
                "kpi": key,
                "kpi_aggregation": "last",
            },
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy on process `pid` (collapsed stacks to `out`, written when it is interrupted)."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def progress_latencies(okr: Collector, sent: dict[float, float], since: int = 0) -> list[float]:
    return [
        at - sent[e["data"]["current"]]
        for at, e in okr.arrivals[since:]
        if e["type"] == "lodestar.kr.progress.v1" and e["data"].get("current") in sent
    ]


def carried(okr: Collector, value: float) -> Callable[[], bool]:
    """A condition: a KR progress event carrying `value` has arrived on `okr.events`. Every
    arrival is looked at once: goals announces a batch's KRs in the cycle's order, so the
    newest value's event can be followed by many others (looking at the last 50 only missed
    it, and the burst's CPU then counted the whole `--drain` wait of an idle service)."""
    seen = 0

    def arrived() -> bool:
        nonlocal seen
        fresh = okr.arrivals[seen:]
        seen += len(fresh)
        return any(e["data"].get("current") == value for _, e in fresh)

    return arrived


async def run(args: argparse.Namespace) -> None:
    bootstrap = kafka_bootstrap()
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:8]}.")
    kpi_topic, okr_topic = topics.name(topics.kpi_values), topics.name(topics.okr_events)
    admin_key = generate_key()[0]
    kpis = [f"k{i:03d}" for i in range(args.kpis)]
    period = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stub = ThreadingHTTPServer(("127.0.0.1", 0), MetricsStub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (kpi_topic, okr_topic)])
    counter = 0

    def next_event() -> tuple[bytes, bytes, float]:
        nonlocal counter
        kpi = kpis[counter % len(kpis)]
        value = float(counter + 1)
        counter += 1
        return kpi_value(kpi, value, period), f"{TENANT}/{kpi}".encode(), value

    with tempfile.TemporaryDirectory() as tmp:
        database_url = (
            await fresh_postgres() if args.db == "postgres" else f"sqlite+aiosqlite:///{tmp}/g.db"
        )
        env = {
            "LODESTAR_KAFKA_BOOTSTRAP": bootstrap,
            **service_kafka_env(bootstrap),
            "LODESTAR_TOPICS__PREFIX": topics.prefix,
            "LODESTAR_BOOTSTRAP_TENANT": TENANT,
            "LODESTAR_BOOTSTRAP_ADMIN_KEY": admin_key,
            "LODESTAR_SECRET_KEY": secrets.token_urlsafe(32),
            "LODESTAR_CONSUMER_POLL_TIMEOUT_MS": "50",
            "LODESTAR_METRICS_URL": f"http://127.0.0.1:{stub.server_address[1]}",
            "LODESTAR_LOG_LEVEL": "WARNING",
            # The set-up posts --kpis KRs one after another with one key: faster than 50 a
            # second on a quick host, past the default burst of 200 (429).
            "LODESTAR_RATE_LIMIT_BURST": "1000000",
        }
        service = start_service(
            "goals", port=free_port(), env=env, database_url=database_url, log_dir=Path(tmp)
        )
        try:
            wait_ready(service)
            headers = {"Authorization": f"Bearer {admin_key}"}
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                await setup(client, service.url, kpis)
            pid = service.process.pid
            print(f"goals pid {pid}")
            spy = None
            if args.profile:
                spy = py_spy(pid, args.profile)
                await asyncio.sleep(1)  # py-spy attaches
            cpu_start = cpu_seconds(pid)
            group = f"{topics.prefix}lodestar-goals.kpi-values"
            okr = Collector(bootstrap, okr_topic)
            await okr.start()
            producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", linger_ms=5)
            await producer.start()

            # --- 1. throughput --------------------------------------------------------------
            burst: dict[float, float] = {}
            started = time.perf_counter()
            sends = []
            for _ in range(args.n):
                record, key, value = next_event()
                burst[value] = time.perf_counter()
                sends.append(await producer.send(kpi_topic, record, key=key))
            await asyncio.gather(*sends)
            produced_s = time.perf_counter() - started
            end = await end_total(bootstrap, kpi_topic)
            done = False
            while time.perf_counter() - started < args.drain:
                if await committed(admin, group, kpi_topic) >= end:
                    done = True
                    break
                await asyncio.sleep(0.02)
            handled_s = time.perf_counter() - started
            last = float(counter)  # the newest value of the burst: its progress closes phase 1
            await wait_for(
                carried(okr, last),
                args.drain,
            )
            burst_progress = len(progress_latencies(okr, burst))
            burst_cpu = cpu_seconds(pid) - cpu_start
            bare = await bare_consumer(bootstrap, kpi_topic, end)

            # --- 2. latency at a steady rate ------------------------------------------------
            sent: dict[float, float] = {}
            bare_reader = Collector(bootstrap, kpi_topic)
            await bare_reader.start()
            await wait_for(lambda: len(bare_reader.arrivals) >= end, 30)
            before = len(okr.arrivals)

            async def send(_: int) -> None:
                record, key, value = next_event()
                sent[value] = time.perf_counter()
                await producer.send(kpi_topic, record, key=key)

            total = await pace(args.rate, args.seconds, send)
            last = float(counter)
            await wait_for(
                carried(okr, last),
                args.drain,
            )
            steady_cpu = cpu_seconds(pid) - cpu_start - burst_cpu
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on an interrupt
                spy.wait()
            await okr.stop()
            await bare_reader.stop()
            await producer.stop()
        finally:
            service.stop()
            await admin.close()
            stub.shutdown()

    kr_lat = progress_latencies(okr, sent, before)
    bare_lat = [
        at - sent[e["data"]["value"]]
        for at, e in bare_reader.arrivals
        if e["data"].get("value") in sent
    ]
    print(
        f"\ngoals follows kpi.values — {args.n} events over {args.kpis} KPIs, one linked KR "
        f"each ({args.db}, real broker, goals as a process)"
    )
    print(f"  produced in {produced_s:.2f} s")
    print(
        f"  baseline bare consumer:        {bare:>10,.0f} events/s"
        f"\n  goals handled (committed):     {args.n / handled_s:>10,.0f} events/s"
        f"{'' if done else '  (NOT all committed before --drain)'}"
        f"\n  KR progress events (timed):    {burst_progress:>10} of {args.n} "
        f"(the rest superseded within a batch)"
    )
    print(f"  goals CPU (user + system):     {1e6 * burst_cpu / args.n:>10.1f} µs/event")
    print(f"\nlatency — {total} events at {args.rate}/s for {args.seconds:g} s")
    print(f"  {'path':<40}{'timed':>7}   latency")
    for label, samples in (
        ("baseline: produce → bare consumer", bare_lat),
        ("produce → KR progress on okr.events", kr_lat),
    ):
        print(f"  {label:<40}{len(samples):>7}   {percentiles(samples)}")
    print(f"  superseded within a batch (not timed): {total - len(kr_lat)}")
    print(f"  goals CPU (user + system): {1e6 * steady_cpu / max(total, 1):.1f} µs/event")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="events in the throughput phase")
    parser.add_argument("--kpis", type=int, default=20)
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", help="py-spy collapsed stacks of the service to this file")
    parser.add_argument("--drain", type=float, default=300, help="most seconds to wait")
    asyncio.run(run(parser.parse_args()))
