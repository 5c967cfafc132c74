"""What creating the n-th key result of one cycle costs goals, as the set-up of
`bench/e2e_latency.py` creates them (linked to a KPI, then backfilled from its periods).

    .venv/bin/python bench/goals_create.py [--at 100 1000 5000] [--samples 5]
                                           [--db sqlite|postgres]

In process, no broker and no metrics: the use cases the routes call (`key_results.create` in one
transaction, then `backfill.store` of one KPI period in a second, as `POST
/v1/objectives/{id}/key-results` runs them with a KPI) on a fresh database with one active cycle
and one objective. The cycle is first filled to n - 1 KRs (each built by `key_results.new_kr`,
then one re-evaluation), then `--samples` KRs are created one by one: the CPU seconds
(`time.process_time`) and the wall seconds of each, median, per n.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bench.common import fresh_postgres  # noqa: E402
from services.goals.metrics_client import KpiInfo, KpiPeriodRead  # noqa: E402
from services.goals.schemas import CycleCreate, KeyResultCreate, ObjectiveCreate  # noqa: E402
from services.goals.service import backfill, cycles, key_results, objectives  # noqa: E402
from services.goals.service.context import Write  # noqa: E402
from services.goals.service.evaluation import reevaluate  # noqa: E402
from services.goals.settings import GoalsSettings  # noqa: E402
from shared.auth import generate_key, install_bootstrap_key  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

TENANT = "acme"


def kr_body(i: int) -> KeyResultCreate:
    key = f"k{i:05d}"
    return KeyResultCreate(
        title=key, kind="increase", start=0, target=2e6, kpi=key, kpi_aggregation="last"
    )


def info(i: int) -> KpiInfo:
    return KpiInfo(key=f"k{i:05d}", name="k", aggregation="last", period="day")


async def one_kr(
    db: Database, settings: GoalsSettings, objective_id: str, i: int
) -> tuple[float, float]:
    """Create KR i as the route does (create, commit, backfill one period): (CPU s, wall s)."""
    cpu, wall = time.process_time(), time.perf_counter()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        write = Write(session, TENANT, "bench", settings, now)
        kr = await key_results.create(write, objective_id, kr_body(i), info(i))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    period = KpiPeriodRead(
        start=day,
        end=day + timedelta(days=1),
        value=float(i),
        count=1,
        last_value=float(i),
        last_at=now,
    )
    async with db.transaction() as session:
        assert kr.kpi is not None
        await backfill.store(session, settings, TENANT, kr.id, kr.kpi, [period], now)
    return time.process_time() - cpu, time.perf_counter() - wall


async def at_size(url: str, n: int, samples: int) -> tuple[float, float]:
    """Median (CPU s, wall s) of creating KRs n .. n + samples - 1 of one cycle."""
    settings = GoalsSettings(database_url=url, secret_key=SecretStr("x" * 32))
    db = Database(url)
    try:
        await upgrade(db, ROOT / "services" / "goals" / "migrations")
        now = datetime.now(UTC)
        async with db.transaction() as session:
            await install_bootstrap_key(session, TENANT, generate_key()[0], name="bench")
            write = Write(session, TENANT, "bench", settings, now)
            body = CycleCreate(
                name="bench", starts_at=now - timedelta(days=30), ends_at=now + timedelta(days=60)
            )
            cycle = await cycles.create(write, body)
            await cycles.transition(write, cycle.id, "active")
            new = ObjectiveCreate(cycle_id=cycle.id, title="Latency", owner="bench")
            objective = await objectives.create(write, new)
            for i in range(n - 1):
                await key_results.new_kr(write, objective.id, kr_body(i), info(i))
            await reevaluate(session, settings, await cycles.load(session, TENANT, cycle.id), now)
        spent = [await one_kr(db, settings, objective.id, n - 1 + j) for j in range(samples)]
    finally:
        await db.dispose()
    return statistics.median(c for c, _ in spent), statistics.median(w for _, w in spent)


async def run(args: argparse.Namespace) -> None:
    configure_logging("WARNING", json=False)
    print(f"creating the n-th KR of one cycle (goals on {args.db}, median of {args.samples})")
    print(f"{'n':>8}{'CPU ms':>10}{'wall ms':>10}")
    for n in args.at:
        with tempfile.TemporaryDirectory() as tmp:
            url = (
                await fresh_postgres()
                if args.db == "postgres"
                else f"sqlite+aiosqlite:///{tmp}/goals.db"
            )
            cpu, wall = await at_size(url, n, args.samples)
        print(f"{n:>8}{cpu * 1000:>10.1f}{wall * 1000:>10.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
