"""CPU the alerts service spends per inbound event, in process: no broker, no decoding.

    .venv/bin/python bench/alerts_cpu.py [--kpis 1000] [--events 20000] [--batch 200]
                                         [--objective-every 20] [--db sqlite|postgres]
                                         [--profile FILE]

Defines one threshold rule per KPI (and the built-in rules, all on), then hands the evaluation
handler (`services.alerts.handlers.evaluation_handler`) batches of already-decoded events as
the e2e bench's platform sends them: per measurement one `kpi.value` of the KPI's current
period, alternating above and below the threshold (every value a transition: one alert
published), and the `kr.progress` goals publishes for the KPI's key result (start 0, target
twice the threshold, so its progress follows the value and its status alternates on track /
off track), and every `--objective-every` measurements the `objective.changed` of the one
objective all key results are under (goals announces it once per batch it re-judges; it has
no rule). The ticker (`Ticker.tick_once`) runs once per `--rate` measurements (once a second
at that rate). Reported: process CPU time (every thread: SQLite's too) and wall time per
measurement and per event of the handler, and per tick. Decoding is outside the timings
(`shared.inbound.decode_record`, done before).

Use it for A/B comparisons within one sitting: the machine is shared, CPU time is less noisy
than wall-clock time, not free of noise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres  # noqa: E402
from services.alerts.handlers import evaluation_handler  # noqa: E402
from services.alerts.loops import Ticker  # noqa: E402
from services.alerts.schemas import RuleCreate  # noqa: E402
from services.alerts.service.rules import create_rule  # noqa: E402
from services.alerts.settings import AlertsSettings  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.inbound import Inbound, decode_record  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

THRESHOLD = 1_000_000.0
TENANT = "acme"
MIGRATIONS = ROOT / "services" / "alerts" / "migrations"


def record(offset: int, type_: str, subject: str, data: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "bench/alerts-cpu",
            "type": type_,
            "time": datetime.now(UTC).isoformat(),
            "subject": subject,
            "tenant": TENANT,
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


def events(kpis: list[str], n: int, start: int, objective_every: int) -> list[list[Inbound]]:
    """Measurements start..start+n: each one's kpi.value, its KR's progress and, every
    `objective_every`, the objective's change, decoded."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for i in range(start, start + n):
        kpi = kpis[i % len(kpis)]
        above = (i // len(kpis)) % 2 == 0
        value = THRESHOLD + 1 + i if above else float(i)
        now = datetime.now(UTC).isoformat()
        value_data: dict[str, object] = {
            "kpi": kpi,
            "period": "day",
            "period_start": day.isoformat(),
            "period_end": (day + timedelta(days=1)).isoformat(),
            "aggregation": "last",
            "value": value,
            "count": 1,
            "last_value": value,
            "last_at": now,
            "health": "green",
            "tags": [],
        }
        progress: dict[str, object] = {
            "key_result_id": f"kr-{kpi}",
            "objective_id": "obj-1",
            "cycle_id": "cyc-1",
            "title": kpi,
            "kind": "increase",
            "current": value,
            "progress": value / (2 * THRESHOLD),
            "raw_progress": value / (2 * THRESHOLD),
            "expected": 0.3,
            "status": "on_track" if above else "off_track",
            "kpi": kpi,
        }
        raws = [
            ("kpi.values", record(i, "lodestar.kpi.value.v1", kpi, value_data)),
            ("okr.events", record(i, "lodestar.kr.progress.v1", f"kr-{kpi}", progress)),
        ]
        if (i + 1) % objective_every == 0:
            objective: dict[str, object] = {
                "objective_id": "obj-1",
                "cycle_id": "cyc-1",
                "title": "Latency",
                "progress": (i % 97) / 97,
                "status": "on_track" if above else "at_risk",
                "state": "active",
            }
            raws.append(
                ("okr.events", record(i, "lodestar.objective.changed.v1", "obj-1", objective))
            )
        measured = []
        for topic, raw in raws:
            rec = ConsumerRecord(topic, 0, i, 0, 0, kpi.encode(), raw, None, 0, len(raw), ())
            measured.append(decode_record(rec, 1 << 20))
        out.append(measured)
    return out


def batches(measured: list[list[Inbound]], size: int) -> list[list[Inbound]]:
    """`size` measurements' events a batch, in order."""
    return [
        [event for one in measured[at : at + size] for event in one]
        for at in range(0, len(measured), size)
    ]


def py_spy(out: str) -> subprocess.Popen[bytes]:
    """py-spy on this process (collapsed stacks to `out`, written when it is interrupted)."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "-p", str(os.getpid()), "-r", "200", "-f", "raw", "-o", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_postgres() if args.db == "postgres" else f"sqlite+aiosqlite:///{tmp}/a.db"
        settings = AlertsSettings(
            database_url=url,
            secret_key=SecretStr("x" * 43),
            bootstrap_tenant=TENANT,
            max_rules_per_tenant=args.kpis,  # one rule per KPI
        )
        db = Database(url)
        await upgrade(db, MIGRATIONS)
        kpis = [f"k{i:04d}" for i in range(args.kpis)]
        async with db.transaction() as session:
            now = datetime.now(UTC)
            for kpi in kpis:
                body = RuleCreate(name=f"High_{kpi}", kpi=kpi, threshold=THRESHOLD)
                await create_rule(session, settings, TENANT, body, now)
        handler = evaluation_handler(db, settings)
        ticker = Ticker(db, settings)
        # Warm-up: a round over every KPI creates its alerts (first sight), then the run.
        every = args.objective_every
        for batch in batches(events(kpis, 2 * len(kpis), 0, every), args.batch):
            await handler(batch)
        await ticker.tick_once()
        spy = None
        if args.profile:
            spy = py_spy(args.profile)
            await asyncio.sleep(1)  # py-spy attaches
        run = batches(events(kpis, args.events, 2 * len(kpis), every), args.batch)
        # As the service does after start-up (`gc_freeze`): the events made here would
        # otherwise make every collection walk them, charged to whatever runs then.
        gc.collect()
        gc.freeze()
        batch_cpu, batch_wall, tick_cpu, handled, ticks = 0.0, 0.0, [], 0, 0
        per_batch: list[float] = []
        since_tick = 0
        for batch in run:
            t0, w0 = time.process_time(), time.perf_counter()
            await handler(batch)
            spent = time.process_time() - t0
            batch_wall += time.perf_counter() - w0
            batch_cpu += spent
            per_batch.append(spent / args.batch)
            handled += len(batch)
            since_tick += args.batch
            if since_tick >= args.rate:
                since_tick = 0
                t0 = time.process_time()
                await ticker.tick_once()
                tick_cpu.append(time.process_time() - t0)
                ticks += 1
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on an interrupt
            spy.wait()
        await db.dispose()
    n = args.events
    print(
        f"alerts CPU — {args.kpis} KPIs (one rule each), {n} measurements: {handled} events "
        f"({n} kpi.value + {n} kr.progress + {n // every} objective.changed), "
        f"{args.batch} measurements a batch, {args.db}"
    )
    print(
        f"  handler: {1e3 * batch_cpu / n:.3f} ms CPU per measurement, "
        f"{1e3 * batch_cpu / handled:.3f} ms per event "
        f"(median batch {1e3 * statistics.median(per_batch):.3f} ms/measurement); "
        f"wall {1e3 * batch_wall / n:.3f} ms per measurement (the database's own CPU and "
        f"round trips are in it)"
    )
    if tick_cpu:
        print(
            f"  ticker:  {1e3 * statistics.median(tick_cpu):.1f} ms CPU per tick (median of "
            f"{ticks}), {1e3 * sum(tick_cpu) / n:.3f} ms per measurement at one tick per "
            f"{args.rate} measurements"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kpis", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20_000, help="measurements in the run")
    parser.add_argument("--batch", type=int, default=200, help="measurements per batch")
    parser.add_argument("--rate", type=int, default=1000, help="measurements per tick")
    parser.add_argument(
        "--objective-every", type=int, default=20, help="measurements per objective.changed"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", help="py-spy collapsed stacks of the run to this file")
    asyncio.run(run(parser.parse_args()))
