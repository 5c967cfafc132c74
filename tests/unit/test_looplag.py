"""The loop-lag monitor sees the event loop held, and exports what it saw."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from shared.looplag import LoopLagMonitor
from tests.support.kafka import wait_until

HISTOGRAM = "lodestar_event_loop_lag_distribution_seconds"


async def test_a_held_loop_shows_as_lag_on_metrics() -> None:
    registry = CollectorRegistry()
    monitor = LoopLagMonitor(registry, "svc", interval_s=0.01)

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, {"service": "svc", **labels}) or 0.0

    def later_than_quarter_second() -> float:
        return sample(f"{HISTOGRAM}_count") - sample(f"{HISTOGRAM}_bucket", le="0.25")

    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.05)  # the monitor is asleep, due in 10 ms
        assert later_than_quarter_second() == 0
        time.sleep(0.3)  # noqa: ASYNC251 - holding the loop is the point
        await wait_until(lambda: later_than_quarter_second() >= 1, timeout_s=5, what="the lag")
        exported = generate_latest(registry).decode()
        assert 'lodestar_event_loop_lag_seconds{service="svc"}' in exported
    finally:
        monitor.request_stop()
        await asyncio.wait_for(task, 1)
