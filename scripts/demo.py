"""Seed the demo tenant and keep live measurements flowing, as a business system would.

Waits for the three services, defines KPIs and alert rules over their REST APIs, produces a
few weeks of history to `kpi.measurements` (ids derived from KPI and day, so a second run adds
nothing), then sends a live measurement per KPI every second and prints what moved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from shared.ingest_proof import sign
from shared.settings import ServiceSettings

KPIS: list[dict[str, Any]] = [
    {
        "key": "mql",
        "name": "Marketing-qualified leads",
        "unit": "leads",
        "aggregation": "sum",
        "period": "day",
        "direction": "higher",
        "green": 40,
        "amber": 25,
        "tags": ["customer"],
    },
    {
        "key": "churn",
        "name": "Monthly churn",
        "unit": "%",
        "aggregation": "last",
        "period": "month",
        "direction": "lower",
        "green": 2.0,
        "amber": 3.5,
        "tags": ["financial"],
    },
    {
        "key": "uptime",
        "name": "API uptime",
        "unit": "%",
        "aggregation": "avg",
        "period": "day",
        "direction": "higher",
        "green": 99.9,
        "amber": 99.5,
        "tags": ["reliability"],
    },
]

RULES: list[dict[str, Any]] = [
    {
        "name": "ChurnHigh",
        "kpi": "churn",
        "operator": "above",
        "threshold": 3.5,
        "severity": "critical",
        "annotations": {"summary": "Monthly churn above 3.5 %"},
    },
    {
        "name": "UptimeLow",
        "kpi": "uptime",
        "operator": "below",
        "threshold": 99.5,
        "severity": "warning",
        "annotations": {"summary": "API uptime below 99.5 %"},
    },
]


def quarter(now: datetime) -> tuple[str, datetime, datetime]:
    first_month = 3 * ((now.month - 1) // 3) + 1
    start = datetime(now.year, first_month, 1, tzinfo=UTC)
    end = (
        datetime(now.year + 1, 1, 1, tzinfo=UTC)
        if first_month == 10
        else datetime(now.year, first_month + 3, 1, tzinfo=UTC)
    )
    return f"{now.year}-Q{(first_month - 1) // 3 + 1}", start, end


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(url, json=body)
    if answer.status_code not in (200, 201):
        raise SystemExit(f"POST {url} answered {answer.status_code}: {answer.text}")
    result: dict[str, Any] = answer.json()
    return result


async def seed_goals(client: httpx.AsyncClient, goals: str) -> None:
    """This quarter's cycle: a company objective cascading to two team objectives, with key
    results linked to the demo KPIs. Skipped when the cycle exists already."""
    name, start, end = quarter(datetime.now(UTC))
    cycles = (await client.get(f"{goals}/v1/cycles", params={"limit": 100})).json()["items"]
    if any(c["name"] == name for c in cycles):
        return
    cycle = await post(
        client,
        f"{goals}/v1/cycles",
        {"name": name, "starts_at": start.isoformat(), "ends_at": end.isoformat()},
    )
    await post(client, f"{goals}/v1/cycles/{cycle['id']}/activate", {})
    company = await post(client, f"{goals}/v1/teams", {"name": "Acme", "kind": "company"})
    marketing = await post(
        client,
        f"{goals}/v1/teams",
        {"name": "Marketing", "kind": "team", "parent_id": company["id"]},
    )
    platform = await post(
        client,
        f"{goals}/v1/teams",
        {"name": "Platform", "kind": "team", "parent_id": company["id"]},
    )

    async def objective(body: dict[str, Any], krs: list[dict[str, Any]]) -> dict[str, Any]:
        created = await post(client, f"{goals}/v1/objectives", {"cycle_id": cycle["id"], **body})
        for kr in krs:
            await post(client, f"{goals}/v1/objectives/{created['id']}/key-results", kr)
        return created

    top = await objective(
        {
            "title": "Grow revenue efficiently",
            "level": "company",
            "owner_type": "team",
            "owner": company["id"],
            "commitment": "committed",
        },
        [
            {
                "title": "Keep monthly churn at or below 3 %",
                "kind": "keep_below",
                "target": 3.0,
                "kpi": "churn",
                "kpi_aggregation": "last",
            }
        ],
    )
    await objective(
        {
            "title": "Fill the pipeline",
            "level": "team",
            "owner_type": "team",
            "owner": marketing["id"],
            "parent_id": top["id"],
        },
        [
            {
                "title": "Reach 250 marketing-qualified leads",
                "kind": "increase",
                "start": 0,
                "target": 250,
                "kpi": "mql",
                "kpi_aggregation": "sum",
            },
            {"title": "Launch the partner webinar series", "kind": "milestone"},
        ],
    )
    await objective(
        {
            "title": "Be boringly reliable",
            "level": "team",
            "owner_type": "team",
            "owner": platform["id"],
            "parent_id": top["id"],
            "commitment": "committed",
        },
        [
            {
                "title": "Keep API uptime at or above 99.5 %",
                "kind": "keep_above",
                "target": 99.5,
                "kpi": "uptime",
                "kpi_aggregation": "avg",
            }
        ],
    )


def sample(kpi: str, at: datetime) -> float:
    """A plausible value with a weekly rhythm and noise."""
    phase = math.sin(at.timestamp() / 86400 / 7 * 2 * math.pi)
    if kpi == "mql":
        return float(max(0, round(6 + 3 * phase + random.gauss(0, 1.5))))
    if kpi == "churn":
        return round(2.6 + 1.2 * phase + random.gauss(0, 0.3), 2)
    return round(min(100.0, 99.7 + 0.25 * phase + random.gauss(0, 0.1)), 3)


def live_sample(kpi: str, at: datetime, elapsed: float) -> float:
    """`sample`, with a churn incident in seconds 5-25 of every minute of the run: the current
    value goes over ChurnHigh's 3.5 % (and the KPI red), so alerts fire and resolve while you
    watch, on the alerts topic, the console and Alertmanager."""
    value = sample(kpi, at)
    if kpi == "churn" and 5 <= elapsed % 60 < 25:
        return round(max(value, 3.5) + 1.0, 2)
    return value


def event(tenant: str, kpi: str, value: float, at: datetime, event_id: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "type": "lodestar.kpi.measurement.v1",
            "id": event_id,
            "source": "demo/producer",
            "time": at.isoformat().replace("+00:00", "Z"),
            "subject": kpi,
            "tenant": tenant,
            "datacontenttype": "application/json",
            "data": {"value": value},
        }
    ).encode()


async def wait_ready(client: httpx.AsyncClient, url: str, deadline_s: float = 90) -> None:
    until = time.monotonic() + deadline_s
    while True:
        try:
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > until:
            raise SystemExit(f"{url} did not become ready within {deadline_s:.0f} s")
        await asyncio.sleep(0.5)


async def ensure(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """Create unless it exists (409), so the demo can be seeded again."""
    answer = await client.post(url, json=body)
    if answer.status_code not in (200, 201, 409):
        raise SystemExit(f"POST {url} answered {answer.status_code}: {answer.text}")


async def main(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {args.key}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        for url in (args.goals, args.metrics, args.alerts):
            await wait_ready(client, url)
        for kpi in KPIS:
            await ensure(client, f"{args.metrics}/v1/kpis", kpi)
        await seed_goals(client, args.goals)
        rules = (await client.get(f"{args.alerts}/v1/rules", params={"limit": 100})).json()
        existing = {r["name"] for r in (rules["items"] if isinstance(rules, dict) else rules)}
        for rule in RULES:
            if rule["name"] not in existing:
                await ensure(client, f"{args.alerts}/v1/rules", rule)

        # The broker's credentials from LODESTAR_KAFKA_* (run.sh: the `producer` principal, which
        # may write kpi.measurements only); each record signed with the tenant's key.
        producer = AIOKafkaProducer(
            bootstrap_servers=args.kafka,
            acks="all",
            **ServiceSettings().kafka_auth.client_options(),
        )
        await producer.start()
        topic = f"{args.topic_prefix}kpi.measurements"
        try:
            today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
            random.seed(7)
            for days_ago in range(args.history_days, 0, -1):
                at = today - timedelta(days=days_ago)
                for kpi in KPIS:
                    key = kpi["key"]
                    value = event(args.tenant, key, sample(key, at), at, f"demo-{key}-{at:%F}")
                    await producer.send(
                        topic,
                        value,
                        key=f"{args.tenant}/{key}".encode(),
                        headers=[sign(args.key, value)],
                    )
            await producer.flush()
            print_banner(args)
            started = time.monotonic()
            while args.seconds is None or time.monotonic() - started < args.seconds:
                now = datetime.now(UTC)
                elapsed = time.monotonic() - started
                for kpi in KPIS:
                    key = kpi["key"]
                    measured = live_sample(key, now, elapsed)
                    value = event(args.tenant, key, measured, now, str(uuid.uuid4()))
                    await producer.send(
                        topic,
                        value,
                        key=f"{args.tenant}/{key}".encode(),
                        headers=[sign(args.key, value)],
                    )
                await asyncio.sleep(1)
                if int(time.monotonic() - started) % 10 == 0:
                    await report(client, args)
        finally:
            await producer.stop()


def print_banner(args: argparse.Namespace) -> None:
    alertmanager = (
        f"\n  Alertmanager  {args.alertmanager} (every alert is posted there; its UI)"
        if args.alertmanager
        else ""
    )
    print(
        f"""
Lodestar is running.
  tenant   {args.tenant}
  API key  {args.key}
  console  {args.goals}/console/  (sign in with the key)
  goals    {args.goals}/docs
  metrics  {args.metrics}/docs
  alerts   {args.alerts}/docs
  kafka    {args.kafka}{alertmanager}

Try:  curl -H 'Authorization: Bearer {args.key}' {args.metrics}/v1/kpis
Live measurements every second; Ctrl-C stops.
""",
        flush=True,
    )


async def report(client: httpx.AsyncClient, args: argparse.Namespace) -> None:
    answer = await client.get(f"{args.alerts}/v1/alerts", params={"state": "firing"})
    if answer.status_code != 200:
        print(f"alerts answered {answer.status_code}: {answer.text}", flush=True)
        return
    items = answer.json()["items"]
    firing = [a["labels"].get("alertname") for a in items if a.get("state") == "firing"]
    print(f"{datetime.now(UTC):%H:%M:%S} firing alerts: {firing or 'none'}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--goals", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--alerts", required=True)
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--alertmanager", default=None, help="the Alertmanager alerts go to")
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--key", required=True)
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--history-days", type=int, default=28)
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="stop the live producer after this long (default: run until Ctrl-C)",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
