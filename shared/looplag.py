"""How late the event loop wakes a task: the cost, on `/metrics`, of everything that holds the
loop (SQLite statements run inline, CPU-heavy batches, a full GC pass).

A `LoopLagMonitor` sleeps `interval_s` again and again and records how much later than asked
each sleep ended; a held loop shows as lag, and aiokafka's heartbeats, which run on the same
loop, are late by as much.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Gauge, Histogram

from shared.supervisor import BackgroundLoop

# From "unnoticeable" to "the consumer group is about to evict us" (session timeouts ~10 s).
LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopLagMonitor(BackgroundLoop):
    def __init__(
        self, registry: CollectorRegistry, service: str, *, interval_s: float = 0.1
    ) -> None:
        super().__init__()
        self._interval_s = interval_s
        self.last = Gauge(
            "lodestar_event_loop_lag_seconds",
            f"How late the event loop woke the latest {interval_s} s sleep",
            ["service"],
            registry=registry,
        ).labels(service)
        self.lags = Histogram(
            "lodestar_event_loop_lag_distribution_seconds",
            f"How late the event loop woke each {interval_s} s sleep",
            ["service"],
            buckets=LAG_BUCKETS_S,
            registry=registry,
        ).labels(service)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            asked_at = loop.time()
            await self.pause(self._interval_s)
            if self.stopping:
                return  # woken early by the stop: not a measurement
            lag = max(0.0, loop.time() - asked_at - self._interval_s)
            self.last.set(lag)
            self.lags.observe(lag)


__all__ = ["LAG_BUCKETS_S", "LoopLagMonitor"]
