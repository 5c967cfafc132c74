"""Per-key rate limits: a token bucket per API key, in the memory of each process.

Each key may make `burst` calls at once and `rate` a second after that; past it a call
answers 429 with `Retry-After` (whole seconds until a token is back). The buckets are per
process, so N replicas allow N times the rate: a bound on what one key can make one process
do, not an exact global quota (that would need a shared store). Buckets of keys quiet for a
while are dropped, so the table holds only the keys in use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from shared.errors import TooManyRequests

# A bucket unused this long is full again anyway; dropping it forgets nothing.
_IDLE_S = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._swept = time.monotonic()

    def take(self, key: str, now: float | None = None) -> None:
        """Spend one token of `key`'s bucket; TooManyRequests when it is empty."""
        now = time.monotonic() if now is None else now
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"this API key may make {self.rate:g} calls a second (bursts of {self.burst})",
                headers={"Retry-After": str(max(wait, 1))},
            )
        bucket.tokens -= 1

    def _sweep(self, now: float) -> None:
        if now - self._swept < _IDLE_S:
            return
        self._swept = now
        idle = [k for k, b in self._buckets.items() if now - b.at > _IDLE_S]
        for key in idle:
            del self._buckets[key]
