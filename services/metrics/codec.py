"""The hot-path decoder of `kpi.measurements`: msgspec instead of pydantic, same verdicts.

A record msgspec accepts is exactly one pydantic would accept (the constraints below mirror
`CloudEvent` and `MeasurementV1`), and becomes the same `Inbound`, built without re-validating.
Anything msgspec refuses, or a type other than the measurement, goes through the project's
`decode_record`, so a bad record is dead-lettered with the very reason pydantic gives.
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


class _Data(msgspec.Struct, forbid_unknown_fields=True):
    value: float  # msgspec refuses JSON true/false for a float, as strict pydantic does
    dimensions: dict[str, str] = msgspec.field(default_factory=dict)


class _Envelope(msgspec.Struct):
    specversion: Literal["1.0"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    type: Literal["lodestar.kpi.measurement.v1"]
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    tenant: Annotated[str, msgspec.Meta(pattern=_SLUG)]
    data: _Data
    datacontenttype: Literal["application/json"] = "application/json"


_decoder = msgspec.json.Decoder(_Envelope)
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


def measurement_decoder(max_bytes: int) -> Callable[[ConsumerRecord[bytes, bytes]], Inbound]:
    """A `ConsumerSpec.decoder` for `kpi.measurements` with the same DLQ reasons as pydantic."""

    def decode(record: ConsumerRecord[bytes, bytes]) -> Inbound:
        value = record.value
        if value is None or len(value) > max_bytes:
            return decode_record(record, max_bytes)  # raises with the usual reason
        try:
            env = _decoder.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return decode_record(record, max_bytes)
        data = env.data
        if not math.isfinite(data.value):
            return decode_record(record, max_bytes)
        payload = {"value": data.value, "dimensions": data.dimensions}
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
                "data": payload,
            },
            {},
        )
        return Inbound(record, event, _construct(MeasurementV1, _PAYLOAD_FIELDS, payload, None))

    return decode


__all__ = ["measurement_decoder"]
