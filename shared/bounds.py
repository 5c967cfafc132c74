"""Bounds at the edge: what every event and request must satisfy before anything stores it.

One set of limits for HTTP (422) and Kafka (dead-lettered at decode), so that no value can
pass the edge and then fail deterministically later: a timestamp the datetime arithmetic
cannot hold, a string a database column refuses, a sum or a progress ratio that is not finite.
The msgspec codec of `kpi.measurements` applies the same constants on its hot path.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, model_validator

MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""No event, measurement or API timestamp before the Unix epoch (stored as µs since it)."""

MAX_TIME = datetime(3000, 1, 1, tzinfo=UTC)
"""No API or payload timestamp after this: far past any cycle, due date or silence, and a
thousand-fold headroom for the arithmetic done on it (periods, cadences, windows of a year)."""

DEFAULT_MAX_FUTURE_SKEW_S = 86_400.0
"""How far past now an event's `time` may be (`ServiceSettings.max_future_skew_s`). A day
covers skewed producer clocks and a local time sent as UTC (zones reach +14 h), and still
keeps a mistyped year from opening periods no query will look at."""

MAX_MAGNITUDE = 1e15
"""|v| ≤ 1e15 for every measured or configured number: below 2⁵³ ≈ 9.007e15, so integer
amounts (counts, cents) stay exact, and a period's sum of even 10²⁹⁰ such values stays finite;
so do averages, deltas and thresholds compared with them."""

MAX_REVISION = 2**53
"""A measurement's `revision` is an integer in [0, 2⁵³]: exact in JSON everywhere (a float
holds it), stored as BIGINT, and large enough for a producer to use its record's update time
in µs since the epoch (2⁵³ µs is past the year 2255)."""

MIN_PROGRESS_SPAN = 1e-9
"""|target - start| of an increase/decrease key result is at least this, so that progress,
(current - start) / (target - start), stays finite for any finite current value (a
subnormal difference would overflow the ratio to infinity)."""

_skew_s = DEFAULT_MAX_FUTURE_SKEW_S


def configure(*, max_future_skew_s: float) -> None:
    """Set the process-wide future skew (each service's lifespan calls this from settings)."""
    global _skew_s
    if not math.isfinite(max_future_skew_s) or max_future_skew_s < 0:
        raise ValueError("max_future_skew_s must be a finite number ≥ 0")
    _skew_s = max_future_skew_s


def max_future_skew_s() -> float:
    return _skew_s


# ---------------------------------------------------------------- strings


def text_error(value: str) -> str | None:
    """Why a string cannot be stored (NUL: PostgreSQL text refuses it; a lone surrogate: not
    encodable as UTF-8), or None."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (invalid UTF-16 escapes)"
    return None


def check_text(value: str) -> str:
    reason = text_error(value)
    if reason is not None:
        raise ValueError(f"text {reason}")
    return value


SafeStr = Annotated[str, AfterValidator(check_text)]
"""A string with no NUL and no lone surrogate."""


def first_bad_text(value: object, path: str = "") -> str | None:
    """Where in a JSON-like value (dict keys included) the first unstorable string is, with
    why; None when every string is storable."""
    if isinstance(value, str):
        reason = text_error(value)
        return None if reason is None else f"{path or 'value'}: text {reason}"
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (reason := text_error(key)) is not None:
                return f"{path or 'object'}: key text {reason}"
            found = first_bad_text(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = first_bad_text(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


class SafeText(BaseModel):
    """A base for request and event models: every string of the input, at any depth and in
    dict keys too, is refused if it holds NUL or a lone surrogate (fields need not opt in)."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        found = first_bad_text(data)
        if found is not None:
            raise ValueError(found)
        return data


# ---------------------------------------------------------------- numbers


def check_magnitude(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"value must be within ±{MAX_MAGNITUDE:g}")
    return value


BoundedFloat = Annotated[float, AfterValidator(check_magnitude)]
"""A finite number with |v| ≤ `MAX_MAGNITUDE`."""


def progress_span_error(start: float, target: float) -> str | None:
    """Why progress between these could be non-finite (target too close to start), or None."""
    if not abs(target - start) >= MIN_PROGRESS_SPAN:
        return f"target must differ from start by at least {MIN_PROGRESS_SPAN:g}"
    return None


# ---------------------------------------------------------------- time


def time_window_error(value: datetime, latest: datetime = MAX_TIME) -> str | None:
    """Why an aware timestamp is outside [`MIN_TIME`, latest], or None. Compared before any
    conversion: `astimezone` itself overflows for year 1 or 9999 with an offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "timestamp must carry a timezone (RFC 3339)"
    if value < MIN_TIME:
        return f"timestamp must not be before {MIN_TIME:%Y-%m-%dT%H:%M:%SZ}"
    if value > latest:
        return f"timestamp must not be after {latest.isoformat().replace('+00:00', 'Z')}"
    return None


def check_time(value: datetime) -> datetime:
    reason = time_window_error(value)
    if reason is not None:
        raise ValueError(reason)
    return value.astimezone(UTC)


def latest_event_time() -> datetime:
    """The latest `time` an event may carry now: now plus the configured skew."""
    return datetime.fromtimestamp(time.time() + _skew_s, UTC)


def check_event_time(value: datetime) -> datetime:
    reason = time_window_error(value)
    if reason is None and value > latest_event_time():
        reason = f"timestamp must not be more than max_future_skew_s={_skew_s:g} s in the future"
    if reason is not None:
        raise ValueError(reason)
    return value.astimezone(UTC)


SaneTime = Annotated[datetime, AfterValidator(check_time)]
"""An aware timestamp in [1970-01-01, 3000-01-01), converted to UTC."""

EventTime = Annotated[datetime, AfterValidator(check_event_time)]
"""When an event happened: from 1970 to now plus `max_future_skew_s`, converted to UTC."""


def event_time_bounds_us() -> tuple[int, int]:
    """[earliest, latest] event time now, in µs since the epoch (the codec's hot path)."""
    latest = min(time.time() + _skew_s, MAX_TIME.timestamp())
    return 0, int(latest * 1_000_000)


__all__ = [
    "DEFAULT_MAX_FUTURE_SKEW_S",
    "MAX_MAGNITUDE",
    "MAX_REVISION",
    "MAX_TIME",
    "MIN_PROGRESS_SPAN",
    "MIN_TIME",
    "BoundedFloat",
    "EventTime",
    "SafeStr",
    "SafeText",
    "SaneTime",
    "check_event_time",
    "check_magnitude",
    "check_text",
    "check_time",
    "configure",
    "event_time_bounds_us",
    "first_bad_text",
    "latest_event_time",
    "max_future_skew_s",
    "progress_span_error",
    "text_error",
    "time_window_error",
]
