"""How fast the alerts service evaluates `kpi.values`, and its produce → alert latency.

    .venv/bin/python bench/alerts_eval.py [--n 20000] [--kpis 50] [--rate 1000] [--seconds 15]
                                          [--db sqlite|postgres]

Starts the real broker (deploy/kafka/kafka.sh) and the alerts service as its own uvicorn
process, defines one threshold rule per KPI, then produces `lodestar.kpi.value.v1` events
round-robin over the KPIs, alternating above and below the threshold, so every event is a
transition and publishes exactly one alert (firing or resolved). Every value is unique, so the
alert that carries it is matched to its event on one clock.

  1. throughput  N events produced as fast as the producer goes; evaluated events/s = N / (time
                 from the first event produced to the group's committed offsets reaching the end
                 of the topic); also alerts published/s (until the N-th alert arrived).
                 Baseline: a bare aiokafka consumer (fresh group) reading those N events.
  2. latency     events at a steady `--rate` for `--seconds`; produce → alert on `alerts`,
                 p50/p95/p99. Baseline: a bare consumer reading the same topic at the same time
                 (produce → consume of the very same events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

THRESHOLD = 1_000_000.0
TENANT = "acme"


def kpi_value(kpi: str, value: float, health: str = "green") -> bytes:
    # A period holding now (alerts evaluate only the present), starting at the event so that
    # no two events share a period: values of one period in a batch are coalesced, and every
    # event here must be evaluated.
    at = datetime.now(UTC)
    now, period_end = at.isoformat(), (at + timedelta(days=1)).isoformat()
    return json.dumps(
        {
            "specversion": "1.0",
            "type": "lodestar.kpi.value.v1",
            "id": str(uuid.uuid4()),
            "source": "bench/alerts",
            "time": now,
            "subject": kpi,
            "tenant": TENANT,
            "datacontenttype": "application/json",
            "data": {
                "kpi": kpi,
                "period": "day",
                "period_start": now,
                "period_end": period_end,
                "aggregation": "last",
                "value": value,
                "count": 1,
                "last_value": value,
                "last_at": now,
                "health": health,
                "tags": [],
            },
        }
    ).encode()


class Workload:
    """Event i: KPI i mod K, above the threshold on even rounds, below on odd; unique values."""

    def __init__(self, kpis: list[str]) -> None:
        self.kpis = kpis
        self.offset = 0  # the rounds continue across phases so every event stays a transition

    def event(self, i: int) -> tuple[str, float]:
        n = self.offset + i
        kpi = self.kpis[n % len(self.kpis)]
        above = (n // len(self.kpis)) % 2 == 0
        return kpi, (THRESHOLD + 1 + n if above else float(n))


async def run(args: argparse.Namespace) -> None:
    bootstrap = kafka_bootstrap()
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:8]}.")
    kpi_topic, alert_topic = topics.name(topics.kpi_values), topics.name(topics.alerts)
    admin_key = generate_key()[0]
    kpis = [f"k{i:03d}" for i in range(args.kpis)]
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    names = (kpi_topic, alert_topic, topics.name(topics.okr_events))
    await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in names])
    with tempfile.TemporaryDirectory() as tmp:
        database_url = (
            await fresh_postgres() if args.db == "postgres" else f"sqlite+aiosqlite:///{tmp}/a.db"
        )
        env = {
            "LODESTAR_KAFKA_BOOTSTRAP": bootstrap,
            **service_kafka_env(bootstrap),
            "LODESTAR_TOPICS__PREFIX": topics.prefix,
            "LODESTAR_BOOTSTRAP_TENANT": TENANT,
            "LODESTAR_BOOTSTRAP_ADMIN_KEY": admin_key,
            "LODESTAR_SECRET_KEY": secrets.token_urlsafe(32),
            "LODESTAR_CONSUMER_POLL_TIMEOUT_MS": "50",
            "LODESTAR_LOG_LEVEL": "WARNING",
        }
        service = start_service(
            "alerts", port=free_port(), env=env, database_url=database_url, log_dir=Path(tmp)
        )
        try:
            wait_ready(service)
            headers = {"Authorization": f"Bearer {admin_key}"}
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                for key in kpis:
                    rule = {"name": f"High_{key}", "kpi": key, "threshold": THRESHOLD}
                    answer = await client.post(f"{service.url}/v1/rules", json=rule)
                    if answer.status_code != 201:
                        raise SystemExit(f"POST rule: {answer.status_code} {answer.text}")
            print(f"service pid {service.process.pid} (py-spy record --pid ... to profile)")
            group = f"{topics.prefix}lodestar-alerts.evaluation"
            workload = Workload(kpis)
            alerts = Collector(bootstrap, alert_topic)
            await alerts.start()
            producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", linger_ms=5)
            await producer.start()

            # --- 1. throughput --------------------------------------------------------------
            started = time.perf_counter()
            sends = []
            for i in range(args.n):
                kpi, value = workload.event(i)
                sends.append(
                    await producer.send(
                        kpi_topic, kpi_value(kpi, value), key=f"{TENANT}/{kpi}".encode()
                    )
                )
            await asyncio.gather(*sends)
            produced_s = time.perf_counter() - started
            workload.offset += args.n
            end = await end_total(bootstrap, kpi_topic)
            done = False
            while time.perf_counter() - started < args.drain:
                if await committed(admin, group, kpi_topic) >= end:
                    done = True
                    break
                await asyncio.sleep(0.02)
            evaluated_s = time.perf_counter() - started
            await wait_for(lambda: len(alerts.arrivals) >= args.n, args.drain)
            published_s = alerts.arrivals[-1][0] - started if alerts.arrivals else float("nan")
            n_alerts = len(alerts.arrivals)
            bare = await bare_consumer(bootstrap, kpi_topic, end)

            # --- 2. latency at a steady rate ------------------------------------------------
            sent: dict[float, float] = {}
            bare_reader = Collector(bootstrap, kpi_topic)
            await bare_reader.start()
            await wait_for(lambda: len(bare_reader.arrivals) >= end, 30)
            before = len(alerts.arrivals)

            async def send(i: int) -> None:
                kpi, value = workload.event(i)
                sent[value] = time.perf_counter()
                await producer.send(
                    kpi_topic, kpi_value(kpi, value), key=f"{TENANT}/{kpi}".encode()
                )

            total = await pace(args.rate, args.seconds, send)
            if not await wait_for(lambda: len(alerts.arrivals) >= before + total, args.drain):
                errors = [
                    line
                    for line in service.log.read_text(errors="replace").splitlines()
                    if "error" in line.lower() or "exception" in line.lower()
                ]
                print("alerts missing; service log errors:", *errors[-30:], sep="\n  ")
            await producer.stop()
            await alerts.stop()
            await bare_reader.stop()
        finally:
            service.stop()
            await admin.close()

    alert_lat = [
        at - sent[e["data"]["value"]]
        for at, e in alerts.arrivals[before:]
        if e["data"].get("value") in sent
    ]
    bare_lat = [
        at - sent[e["data"]["value"]]
        for at, e in bare_reader.arrivals
        if e["data"].get("value") in sent
    ]
    print(
        f"\nalerts evaluation — {args.n} kpi.value events over {args.kpis} KPIs with rules, every "
        f"event a transition ({args.db}, real broker, service as a process)"
    )
    print(f"  produced in {produced_s:.2f} s")
    print(
        f"  baseline bare consumer:        {bare:>10,.0f} events/s"
        f"\n  alerts evaluated (committed):  {args.n / evaluated_s:>10,.0f} events/s"
        f"{'' if done else '  (NOT all committed before --drain)'}"
        f"\n  alerts published on `alerts`: {n_alerts / published_s:>10,.0f} alerts/s "
        f"({n_alerts} of {args.n})"
    )
    print(f"\nlatency — {total} events at {args.rate}/s for {args.seconds:g} s")
    print(f"  {'path':<38}{'timed':>7}   latency")
    for label, samples in (
        ("baseline: produce → bare consumer", bare_lat),
        ("produce → alert on `alerts`", alert_lat),
    ):
        print(f"  {label:<38}{len(samples):>7}   {percentiles(samples)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="events in the throughput phase")
    parser.add_argument("--kpis", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--drain", type=float, default=120, help="most seconds to wait")
    asyncio.run(run(parser.parse_args()))
