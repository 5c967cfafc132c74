"""The per-key token bucket: bursts, refill, Retry-After, keys apart."""

from __future__ import annotations

import pytest

from shared.errors import TooManyRequests
from shared.limits import RateLimiter


def test_a_burst_then_the_rate_with_retry_after_until_the_next_token() -> None:
    limiter = RateLimiter(rate_per_s=0.5, burst=3)  # a token every 2 s
    for _ in range(3):
        limiter.take("k", now=100.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("k", now=100.0)
    assert refused.value.status == 429
    assert refused.value.extra["headers"] == {"Retry-After": "2"}
    with pytest.raises(TooManyRequests) as later:
        limiter.take("k", now=101.0)  # half a token back: one second to go
    assert later.value.extra["headers"] == {"Retry-After": "1"}
    limiter.take("k", now=102.0)  # a whole token
    limiter.take("other", now=102.0)  # its own bucket


def test_a_bucket_never_holds_more_than_the_burst() -> None:
    limiter = RateLimiter(rate_per_s=100.0, burst=2)
    limiter.take("k", now=0.0)
    for _ in range(2):
        limiter.take("k", now=1_000.0)
    with pytest.raises(TooManyRequests):
        limiter.take("k", now=1_000.0)
