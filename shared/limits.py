"""Request limits: the body size cap (`BodyLimit`), and rate limits: a token bucket per API
key, and one per client address for the keys it presents that are refused (401), in the
memory of each process.

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

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PayloadTooLarge, TooManyRequests, problem_response

# A bucket unused this long is full again anyway; dropping it forgets nothing.
_IDLE_S = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is a 413 problem. A Content-Length
    over it is refused before anything is read; a body without one is counted as it comes
    and refused at the first byte past the cap (nothing more is read)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            detail = f"the request body may have at most {self.max_bytes} bytes"
            response = problem_response(PayloadTooLarge(detail).to_problem(scope["path"]))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Re-raised by FastAPI's body reading, rendered by the problem handlers.
                    raise HTTPException(413, "the request body is over the size limit")
            return message

        await self.app(scope, counted, send)


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._swept = time.monotonic()

    def take(self, key: str, now: float | None = None, *, who: str = "this API key") -> None:
        """Spend one token of `key`'s bucket; TooManyRequests when it is empty."""
        bucket = self._refilled(key, now)
        if bucket.tokens < 1:
            self._refuse(bucket, who)
        bucket.tokens -= 1

    def _refilled(self, key: str, now: float | None) -> _Bucket:
        now = time.monotonic() if now is None else now
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def _refuse(self, bucket: _Bucket, who: str) -> None:
        wait = math.ceil((1 - bucket.tokens) / self.rate)
        raise TooManyRequests(
            f"{who} may make {self.rate:g} calls a second (bursts of {self.burst})",
            headers={"Retry-After": str(max(wait, 1))},
        )

    def _sweep(self, now: float) -> None:
        if now - self._swept < _IDLE_S:
            return
        self._swept = now
        idle = [k for k, b in self._buckets.items() if now - b.at > _IDLE_S]
        for key in idle:
            del self._buckets[key]
