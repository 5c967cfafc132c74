"""The hot-path decoder of `kpi.measurements`: msgspec instead of pydantic, same verdicts.

A record msgspec accepts is exactly one pydantic would accept (the constraints below mirror
`CloudEvent` and `MeasurementV1`), and becomes the same `Inbound`, built without re-validating
and only if someone reads it: the ingest path reads the `Envelope` struct (`Inbound.decoded`)
and never builds the pydantic objects. Anything msgspec refuses, or a type other than the
measurement, goes through the project's `decode_record`, so a bad record is dead-lettered with
the very reason pydantic gives.

The bounds of `shared.bounds` hold here too, as cheaply as they can: one range compare for
the value (which also refuses NaN and infinities) and one for the time; a string scan only
when the raw record holds an escaped NUL (msgspec itself refuses raw control characters, lone
surrogates and invalid UTF-8). The time is taken as sent (`msgspec.Raw`) and parsed alone, so
the check for more than six fractional digits (pydantic truncates them, msgspec rounds) looks
at its few bytes, not the whole record's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from aiokafka import ConsumerRecord

from services.metrics.tables import EPOCH, MICROSECOND, from_micros
from shared.bounds import (
    DEFAULT_MAX_FUTURE_SKEW_S,
    MAX_MAGNITUDE,
    MAX_REVISION,
    MAX_TIME,
    MIN_TIME,
)
from shared.codec import construct
from shared.events import MEASUREMENT_V1, CloudEvent, MeasurementV1
from shared.inbound import Inbound, decode_record

# `\A...\Z`, not `^...$`: Python's `$` also matches before a trailing newline.
_SLUG = r"\A[a-z0-9][a-z0-9._-]{0,62}\Z"


class Data(msgspec.Struct, forbid_unknown_fields=True):
    value: float  # msgspec refuses JSON true/false for a float, as strict pydantic does
    # UNSET when absent, so the event's `data` stays what was sent (as pydantic keeps it).
    dimensions: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    # A restatement (`MeasurementV1.revision`); UNSET (revision 0) on the hot path.
    revision: Annotated[int, msgspec.Meta(ge=0, le=MAX_REVISION)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


class Envelope(msgspec.Struct):
    """A validated measurement event (the value's magnitude, the time's window and the strings'
    NULs are checked too: `measurement_decoder`)."""

    specversion: Literal["1.0"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    type: Literal["lodestar.kpi.measurement.v1"]
    time: msgspec.Raw  # the JSON string as sent: `measurement_decoder` parses it (`Time`)
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    tenant: Annotated[str, msgspec.Meta(pattern=_SLUG)]
    data: Data
    datacontenttype: Literal["application/json"] = "application/json"


Time = Annotated[datetime, msgspec.Meta(tz=True)]

_decoder = msgspec.json.Decoder(Envelope)
_time_decoder = msgspec.json.Decoder(Time)


def identity(tenant: str, source: str, event_id: str) -> bytes:
    """The 16-byte key of a measurement: BLAKE2b-128 of its CloudEvent identity.

    The parts are length-prefixed, so two different identities never hash the same input;
    a collision-resistant hash (not MD5), so no tenant can craft an id whose key equals
    another event's and have that event dropped as a duplicate."""
    data = f"{len(tenant)}:{tenant}{len(source)}:{source}{event_id}"
    return _blake2b(data.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Decoded(msgspec.Struct, frozen=True):
    """A measurement as the ingest path takes it (`Inbound.decoded`): the envelope, and what
    is derived from it once, on the event loop, while the previous batch is being stored."""

    envelope: Envelope
    key: bytes  # identity(tenant, source, id)
    observed_at: int  # µs since the Unix epoch


_EVENT_FIELDS = frozenset(CloudEvent.model_fields)
_PAYLOAD_FIELDS = frozenset(MeasurementV1.model_fields)
_blake2b = hashlib.blake2b


def build(decoded: Decoded) -> tuple[CloudEvent, MeasurementV1]:
    """The pydantic objects of a decoded measurement, as `decode_record` would make them."""
    env = decoded.envelope
    data = env.data
    sent: dict[str, Any] = {"value": data.value}
    payload: dict[str, Any] = {"value": data.value, "dimensions": {}, "revision": 0}
    if data.dimensions is not msgspec.UNSET:
        sent["dimensions"] = payload["dimensions"] = data.dimensions
    if data.revision is not msgspec.UNSET:
        sent["revision"] = payload["revision"] = data.revision
    event = construct(
        CloudEvent,
        _EVENT_FIELDS,
        {
            "specversion": "1.0",
            "id": env.id,
            "source": env.source,
            "type": MEASUREMENT_V1,
            "time": from_micros(decoded.observed_at),
            "subject": env.subject,
            "tenant": env.tenant,
            "datacontenttype": "application/json",
            "data": sent,
        },
        {},
    )
    return event, construct(MeasurementV1, _PAYLOAD_FIELDS, payload, None)


def _has_nul(env: Envelope) -> bool:
    dims = env.data.dimensions
    texts = [env.id, env.source, env.subject]
    if dims is not msgspec.UNSET:
        texts.extend(dims)
        texts.extend(dims.values())
    return any("\x00" in text for text in texts)


def measurement_decoder(
    max_bytes: int, max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
) -> Callable[[ConsumerRecord[bytes, bytes]], Inbound]:
    """A `ConsumerSpec.decoder` for `kpi.measurements` with the same DLQ reasons as pydantic."""
    deferred = Inbound.deferred
    decode_envelope = _decoder.decode
    lowest, highest = -MAX_MAGNITUDE, MAX_MAGNITUDE
    earliest = (MIN_TIME - EPOCH) // MICROSECOND
    ceiling = (MAX_TIME - EPOCH) // MICROSECOND
    skew_us = int(max_future_skew_s * 1_000_000)
    # The latest time allowed, in µs, as of its last refresh: now only grows, so a stale
    # value is only stricter, and it is refreshed before a record is refused for it.
    latest = [0]

    def refreshed_latest() -> int:
        latest[0] = min(int(time.time() * 1_000_000) + skew_us, ceiling)
        return latest[0]

    nul, backslash = b"\\u0000", b"\\"
    decode_time = _time_decoder.decode

    def decode(record: ConsumerRecord[bytes, bytes]) -> Inbound:
        value = record.value
        if value is None or len(value) > max_bytes:
            return decode_record(record, max_bytes)  # raises with the usual reason
        try:
            env = decode_envelope(value)
            sent = bytes(env.time)
            # More than six fractional digits: pydantic truncates them to µs, msgspec rounds
            # (23:59:59.9999999 would fall in the next day). A time msgspec takes is
            # `"YYYY-MM-DDTHH:MM:SS` then the fraction or the offset, so bytes 21-27 are all
            # digits exactly when the fraction has seven or more (unless the string holds an
            # escape: `\\u0039` is a digit too, see below).
            if sent[21:28].isdigit():
                return decode_record(record, max_bytes)
            at = (decode_time(sent) - EPOCH) // MICROSECOND  # `to_micros`, inlined
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            return decode_record(record, max_bytes)
        if not lowest <= env.data.value <= highest:  # False for NaN too
            return decode_record(record, max_bytes)
        if not earliest <= at <= latest[0] and not earliest <= at <= refreshed_latest():
            return decode_record(record, max_bytes)
        # One scan for an escape anywhere (`find`: `in` first tries its argument as an int and
        # formats the TypeError it drops, twice the cost); an escape in the time or of a NUL
        # is left to pydantic.
        if value.find(backslash) >= 0 and (
            sent.find(backslash) >= 0 or (value.find(nul) >= 0 and _has_nul(env))
        ):
            return decode_record(record, max_bytes)
        return deferred(record, Decoded(env, identity(env.tenant, env.source, env.id), at), build)

    return decode


__all__ = ["Data", "Decoded", "Envelope", "build", "identity", "measurement_decoder"]
