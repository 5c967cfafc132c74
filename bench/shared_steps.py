"""CPU per event of the steps every service runs per event: the inbox, the outbox, the relay.

    .venv/bin/python bench/shared_steps.py [--db sqlite|postgres] [--batches 25] [--batch 400]

In process, no broker: per batch one write transaction records `--batch` inbound identities
(`shared.inbox.first_deliveries`) and adds as many `lodestar.kr.progress.v1` events to the
outbox (`shared.outbox.enqueue`), then the relay publishes and deletes them
(`OutboxRelay.relay_once`) to a producer that acknowledges at once. Reported: this process's
CPU time per event of each step (the first five batches warm up, uncounted); on PostgreSQL the
server's own CPU is not in it. For A/B comparisons within one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.events import KR_PROGRESS_V1, CloudEvent, KrProgressV1, new_event, utcnow  # noqa: E402
from shared.inbox import first_deliveries  # noqa: E402
from shared.outbox import OutboxRelay, enqueue  # noqa: E402
from shared.tables import infra_metadata  # noqa: E402

WARM_UP = 5


class AckingProducer:
    """Every send acknowledged at once: the relay's own work, not the broker's."""

    async def send(self, topic: str, value: bytes, *, key: str | None) -> asyncio.Future[object]:
        acked: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def inbound(n: int) -> list[CloudEvent]:
    return [
        CloudEvent(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source="lodestar/metrics",
            type="lodestar.kpi.value.v1",
            time=utcnow(),
            subject="k",
            tenant="acme",
            data={},
        )
        for _ in range(n)
    ]


def outgoing(n: int) -> list[CloudEvent]:
    return [
        new_event(
            type=KR_PROGRESS_V1,
            source="lodestar/goals",
            tenant="acme",
            subject=f"kr-{i}",
            data=KrProgressV1(
                key_result_id=f"kr-{i}",
                objective_id="o",
                cycle_id="c",
                title="Ünïcode ✓",
                kind="increase",
                current=1.5 * i,
                progress=0.5,
                raw_progress=0.5,
                expected=0.3,
                status="on_track",
                kpi="k",
            ),
        )
        for i in range(n)
    ]


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_postgres() if args.db == "postgres" else f"sqlite+aiosqlite:///{tmp}/s.db"
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.run_sync(infra_metadata.create_all)
        relay = OutboxRelay(db, AckingProducer(), batch_max=args.batch)  # type: ignore[arg-type]
        batches = [(inbound(args.batch), outgoing(args.batch)) for _ in range(args.batches)]
        gc.collect()
        gc.freeze()
        inbox_s = outbox_s = relay_s = 0.0
        counted = 0
        for i, (received, sent) in enumerate(batches):
            async with db.transaction() as session:
                t0 = time.process_time()
                await first_deliveries(session, received, utcnow())
                t1 = time.process_time()
                await enqueue(session, "bench.events", *sent)
                t2 = time.process_time()
            t3 = time.process_time()
            await relay.relay_once()
            t4 = time.process_time()
            if i >= WARM_UP:
                inbox_s += t1 - t0
                outbox_s += t2 - t1
                relay_s += t4 - t3
                counted += len(received)
        await db.dispose()
    print(
        f"shared steps, {args.db}, batches of {args.batch}: CPU per event: "
        f"inbox {1e6 * inbox_s / counted:.1f} µs, outbox enqueue {1e6 * outbox_s / counted:.1f} "
        f"µs, relay publish + delete {1e6 * relay_s / counted:.1f} µs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batches", type=int, default=25)
    parser.add_argument("--batch", type=int, default=400)
    asyncio.run(run(parser.parse_args()))
