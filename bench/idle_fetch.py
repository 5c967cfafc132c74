"""What idle consumers cost with each fetch setting: CPU of the consumers' process and of the
broker while they poll a topic nothing is written to.

    .venv/bin/python bench/idle_fetch.py [--consumers 5] [--seconds 20]

Runs `--consumers` aiokafka consumers (each its own group, on one empty topic) first with
Kafka's defaults (fetch_min_bytes 1, fetch_max_wait_ms 500: the baseline), then with the
services' settings (`shared.settings.ServiceSettings`: the broker holds a fetch up to
`consumer_fetch_max_wait_ms` for `consumer_fetch_min_bytes`), in the same run against the
project's broker (deploy/kafka/kafka.sh). An idle consumer asks the broker once per wait.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import broker_pid, cpu_seconds  # noqa: E402
from shared.consumer import SPARSE  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from tests.support.infra import kafka_bootstrap  # noqa: E402
from tests.support.kafka import client_options  # noqa: E402


async def idle_cost(
    bootstrap: str, consumers: int, seconds: float, min_bytes: int, max_wait_ms: int
) -> tuple[float, float]:
    """(% of a core in this process, % of a core in the broker) while the consumers idle."""
    topic = f"bench-idle-{uuid.uuid4().hex[:8]}"
    started = [
        AIOKafkaConsumer(
            topic,
            **client_options(bootstrap),
            group_id=f"bench-idle-{uuid.uuid4().hex[:8]}",
            fetch_min_bytes=min_bytes,
            fetch_max_wait_ms=max_wait_ms,
        )
        for _ in range(consumers)
    ]
    for consumer in started:
        await consumer.start()

    async def poll(consumer: AIOKafkaConsumer) -> None:
        while True:
            await consumer.getmany(timeout_ms=200)

    tasks = [asyncio.create_task(poll(c)) for c in started]
    try:
        await asyncio.sleep(3)  # joined and fetching
        broker = broker_pid()
        if broker is None:
            raise SystemExit("no broker of this checkout runs")
        own0, broker0, wall0 = cpu_seconds(os.getpid()), cpu_seconds(broker), time.perf_counter()
        await asyncio.sleep(seconds)
        wall = time.perf_counter() - wall0
        return (
            100 * (cpu_seconds(os.getpid()) - own0) / wall,
            100 * (cpu_seconds(broker) - broker0) / wall,
        )
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in started:
            await consumer.stop()


async def main(args: argparse.Namespace) -> None:
    bootstrap = kafka_bootstrap()
    settings = ServiceSettings()
    variants = [
        (
            f"Kafka's defaults: {SPARSE.min_bytes} B, {SPARSE.max_wait_ms} ms (baseline)",
            SPARSE.min_bytes,
            SPARSE.max_wait_ms,
        ),
        (
            f"services: {settings.consumer_fetch_min_bytes} B, "
            f"{settings.consumer_fetch_max_wait_ms} ms",
            settings.consumer_fetch_min_bytes,
            settings.consumer_fetch_max_wait_ms,
        ),
    ]
    print(f"{args.consumers} idle consumers, {args.seconds:.0f} s each")
    for label, min_bytes, max_wait_ms in variants:
        own, broker = await idle_cost(
            bootstrap, args.consumers, args.seconds, min_bytes, max_wait_ms
        )
        print(f"  {label:<44} consumers {own:5.1f} % of a core, broker {broker:5.1f} %")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--consumers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20)
    asyncio.run(main(parser.parse_args()))
