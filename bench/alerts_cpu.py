"""CPU the alerts service spends per inbound event, in process: no broker, no decoding.

    .venv/bin/python bench/alerts_cpu.py [--kpis 1000] [--events 20000] [--batch 200]
                                         [--db sqlite|postgres] [--profile FILE]

Defines one threshold rule per KPI (and the built-in rules, all on), then hands the evaluation
handler (`services.alerts.handlers.evaluation_handler`) batches of already-decoded events as
the e2e bench makes them: per measurement one `kpi.value` of the KPI's current period,
alternating above and below the threshold (every value a transition: one alert published),
and one `kr.progress` of the KPI's key result, alternating on track and off track. The ticker
(`Ticker.tick_once`) runs once per `--rate` events (once a second at that rate). Reported:
process CPU time (every thread: SQLite's too) per event of the handler, and per tick.
Decoding is outside the timings (`shared.inbound.decode_record`, done before).

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


def events(kpis: list[str], n: int, start: int) -> list[Inbound]:
    """Measurement i of the run: its kpi.value and its KR's progress, decoded."""
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
            "progress": 0.5 if above else 0.0,
            "raw_progress": 0.5 if above else 0.0,
            "expected": 0.3,
            "status": "on_track" if above else "off_track",
            "kpi": kpi,
        }
        for topic, raw in (
            ("kpi.values", record(i, "lodestar.kpi.value.v1", kpi, value_data)),
            ("okr.events", record(i, "lodestar.kr.progress.v1", f"kr-{kpi}", progress)),
        ):
            rec = ConsumerRecord(topic, 0, i, 0, 0, kpi.encode(), raw, None, 0, len(raw), ())
            out.append(decode_record(rec, 1 << 20))
    return out


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
            database_url=url, secret_key=SecretStr("x" * 43), bootstrap_tenant=TENANT
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
        warm = events(kpis, 2 * len(kpis), 0)
        for at in range(0, len(warm), 2 * args.batch):
            await handler(warm[at : at + 2 * args.batch])
        await ticker.tick_once()
        spy = None
        if args.profile:
            spy = py_spy(args.profile)
            await asyncio.sleep(1)  # py-spy attaches
        run_events = events(kpis, args.events, 2 * len(kpis))
        # As the service does after start-up (`gc_freeze`): the events made here would
        # otherwise make every collection walk them, charged to whatever runs then.
        gc.collect()
        gc.freeze()
        batch_cpu, tick_cpu, handled, ticks = 0.0, [], 0, 0
        per_batch: list[float] = []
        since_tick = 0
        for at in range(0, len(run_events), 2 * args.batch):
            batch = run_events[at : at + 2 * args.batch]
            t0 = time.process_time()
            await handler(batch)
            spent = time.process_time() - t0
            batch_cpu += spent
            per_batch.append(spent / len(batch))
            handled += len(batch)
            since_tick += len(batch) // 2
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
    print(
        f"alerts CPU — {args.kpis} KPIs (one rule each), {handled} events "
        f"({handled // 2} kpi.value + {handled // 2} kr.progress), batches of {2 * args.batch}, "
        f"{args.db}"
    )
    print(
        f"  handler: {1e3 * batch_cpu / handled:.3f} ms CPU per event "
        f"(median batch {1e3 * statistics.median(per_batch):.3f} ms/event)"
    )
    if tick_cpu:
        print(
            f"  ticker:  {1e3 * statistics.median(tick_cpu):.1f} ms CPU per tick (median of "
            f"{ticks}), {1e3 * sum(tick_cpu) / handled:.3f} ms per event at one tick per "
            f"{args.rate} measurements"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kpis", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20_000, help="measurements in the run")
    parser.add_argument("--batch", type=int, default=200, help="measurements per batch")
    parser.add_argument("--rate", type=int, default=1000, help="measurements per tick")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", help="py-spy collapsed stacks of the run to this file")
    asyncio.run(run(parser.parse_args()))
