"""The hot-path decoder of `kpi.measurements`: msgspec instead of pydantic, same verdicts.

A record msgspec accepts is exactly one pydantic would accept (the constraints below mirror
`CloudEvent` and `MeasurementV1`), and becomes the same `Inbound`, built without re-validating
and only if someone reads it: the ingest path reads the `Envelope` struct (`Inbound.decoded`)
and never builds the pydantic objects. Anything msgspec refuses, or a type other than the
measurement, goes through the project's `decode_record`, so a bad record is dead-lettered with
the very reason pydantic gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from aiokafka import ConsumerRecord
from pydantic import BaseModel

from shared.consumer import Inbound, decode_record
from shared.events import MEASUREMENT_V1, CloudEvent, MeasurementV1

# `\A...\Z`, not `^...$`: Python's `$` also matches before a trailing newline.
_SLUG = r"\A[a-z0-9][a-z0-9._-]{0,62}\Z"


class Data(msgspec.Struct, forbid_unknown_fields=True):
    value: float  # msgspec refuses JSON true/false for a float, as strict pydantic does
    # UNSET when absent, so the event's `data` stays what was sent (as pydantic keeps it).
    dimensions: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class Envelope(msgspec.Struct):
    """A validated measurement event (the value is also finite: `measurement_decoder`)."""

    specversion: Literal["1.0"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    type: Literal["lodestar.kpi.measurement.v1"]
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    tenant: Annotated[str, msgspec.Meta(pattern=_SLUG)]
    data: Data
    datacontenttype: Literal["application/json"] = "application/json"


_decoder = msgspec.json.Decoder(Envelope)
_EVENT_FIELDS = frozenset(CloudEvent.model_fields)
_PAYLOAD_FIELDS = frozenset(MeasurementV1.model_fields)
_new = object.__new__
_set = object.__setattr__

M = TypeVar("M", bound=BaseModel)


def _construct(cls: type[M], fields: frozenset[str], values: dict[str, Any], extra: Any) -> M:
    """A model instance from already-validated values: what `model_construct` does, without
    its per-field bookkeeping (it costs more than validating). A unit test checks the result
    equals the validated model, so a pydantic upgrade that changes its internals is caught."""
    model = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields)
    _set(model, "__pydantic_extra__", extra)
    _set(model, "__pydantic_private__", None)
    return model


def build(env: Envelope) -> tuple[CloudEvent, MeasurementV1]:
    """The pydantic objects of a decoded envelope, as `decode_record` would make them."""
    data = env.data
    if data.dimensions is msgspec.UNSET:
        sent: dict[str, Any] = {"value": data.value}
        payload: dict[str, Any] = {"value": data.value, "dimensions": {}}
    else:
        sent = payload = {"value": data.value, "dimensions": data.dimensions}
    event = _construct(
        CloudEvent,
        _EVENT_FIELDS,
        {
            "specversion": "1.0",
            "id": env.id,
            "source": env.source,
            "type": MEASUREMENT_V1,
            "time": env.time.astimezone(UTC),
            "subject": env.subject,
            "tenant": env.tenant,
            "datacontenttype": "application/json",
            "data": sent,
        },
        {},
    )
    return event, _construct(MeasurementV1, _PAYLOAD_FIELDS, payload, None)


def measurement_decoder(max_bytes: int) -> Callable[[ConsumerRecord[bytes, bytes]], Inbound]:
    """A `ConsumerSpec.decoder` for `kpi.measurements` with the same DLQ reasons as pydantic."""
    deferred = Inbound.deferred
    decode_envelope = _decoder.decode
    isfinite = math.isfinite

    def decode(record: ConsumerRecord[bytes, bytes]) -> Inbound:
        value = record.value
        if value is None or len(value) > max_bytes:
            return decode_record(record, max_bytes)  # raises with the usual reason
        try:
            env = decode_envelope(value)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return decode_record(record, max_bytes)
        if not isfinite(env.data.value):
            return decode_record(record, max_bytes)
        return deferred(record, env, build)

    return decode


__all__ = ["Data", "Envelope", "build", "measurement_decoder"]
