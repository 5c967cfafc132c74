"""The msgspec fast path of `shared.inbound.decode_record` for the event types consumed most
(`FAST_TYPES`: a KPI's value, a key result's progress, an objective's change): the very
`CloudEvent` and payload objects pydantic makes, or None, and the caller validates the record
the pydantic way (which gives the DLQ reason of a bad record: this path never refuses one).

A record is taken here only when msgspec's verdict is sure to be pydantic's:

- the envelope and the payload are msgspec structs mirroring `CloudEvent` and the payload
  class (types, lengths, the slug's pattern; no unknown field: an extension attribute of
  the envelope goes the pydantic way);
- every bound of `shared.bounds` is applied by the slow path's own functions: finite floats,
  timestamps in their window (the event's `time` no later than now plus the skew), in UTC;
- a record with an ASCII character sent as a `\\u00XX` escape goes the pydantic way: a
  string holding NUL can only be sent so (`\\u0000`), and an escaped digit would hide a
  timestamp's seventh fractional digit from the check below; msgspec itself refuses lone
  surrogates, raw control characters and invalid UTF-8;
- a timestamp with more than six fractional digits goes the pydantic way (pydantic truncates
  it to µs, msgspec rounds it).

`event.data` is the `data` object as sent (msgspec's untyped decoding of the same bytes:
the numbers of the JSON keep their type, as with pydantic), and each model's set fields are
those sent, so `model_dump(exclude_unset=True)` is the same too. A unit test checks the models
built here equal pydantic's, field by field, over fixed and generated records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin

import msgspec
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from shared.events import (
    KPI_VALUE_V1,
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    CloudEvent,
    KpiValueV1,
    KrProgressV1,
    ObjectiveChangedV1,
)

# `\A...\Z`, not `^...$`: Python's `$` also matches before a trailing newline.
_SLUG = r"\A[a-z0-9][a-z0-9._-]{0,62}\Z"

_new = object.__new__
_set = object.__setattr__

M = TypeVar("M", bound=BaseModel)


def construct(
    cls: type[M], fields_set: set[str] | frozenset[str], values: dict[str, Any], extra: Any
) -> M:
    """A model instance from already-validated values: what `model_construct` does, without
    its per-field bookkeeping (it costs more than validating). `values` in field order;
    `extra` is `{}` for a model that allows extra fields, None for one that forbids them."""
    model = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", extra)
    _set(model, "__pydantic_private__", None)
    return model


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """`CloudEvent` with no extension attribute; `data` decoded apart (`Payload`)."""

    specversion: Literal["1.0"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    tenant: Annotated[str, msgspec.Meta(pattern=_SLUG)]
    data: msgspec.Raw
    datacontenttype: Literal["application/json"] | msgspec.UnsetType = msgspec.UNSET


class Payload(msgspec.Struct, forbid_unknown_fields=True):
    """A payload class's mirror: each field UNSET when absent (the model's default then)."""


Time = Annotated[datetime, msgspec.Meta(tz=True)]
UNSET: Any = msgspec.UNSET


class KpiValue(Payload, kw_only=True):
    kpi: str
    period: str
    period_start: Time
    period_end: Time
    aggregation: str
    value: float
    count: int
    last_value: float
    last_at: Time
    health: str
    direction: str = UNSET
    tags: list[str] = UNSET
    revision: Annotated[int, msgspec.Meta(ge=0)] = UNSET


class KrProgress(Payload, kw_only=True):
    key_result_id: str
    objective_id: str
    cycle_id: str
    title: str
    kind: str
    current: float | None
    progress: float
    raw_progress: float
    expected: float | None
    status: str
    previous_status: str | None = UNSET
    kpi: str | None = UNSET
    source: str = UNSET
    periods_met: int | None = UNSET
    periods_elapsed: int | None = UNSET


class ObjectiveChanged(Payload, kw_only=True):
    objective_id: str
    cycle_id: str
    title: str
    progress: float
    status: str
    previous_status: str | None = UNSET
    state: str
    rollup_progress: float | None = UNSET
    rollup_status: str | None = UNSET
    score: float | None = UNSET
    parent_id: str | None = UNSET
    team_id: str | None = UNSET


def _validators(info: FieldInfo) -> list[Callable[[Any], Any]]:
    """The functions of a field's `AfterValidator`s, at any depth of its annotation (the
    bounds of `shared.bounds` and `shared.events`: finite floats, timestamps in UTC and in
    their window), in the order pydantic runs them."""
    found: list[Callable[[Any], Any]] = []

    def walk(annotation: Any, metadata: Sequence[Any]) -> None:
        if get_origin(annotation) is Annotated:
            inner, *more = get_args(annotation)
            walk(inner, more)
        elif get_origin(annotation) in (Union, UnionType):
            for arm in get_args(annotation):
                walk(arm, ())
        for m in metadata:
            if isinstance(m, AfterValidator):  # Lodestar's are all plain (value-only) ones
                found.append(cast(Callable[[Any], Any], m.func))

    walk(info.annotation, info.metadata)
    return found


def _checked(validators: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """A field's value through its validators (an absent or null value is not validated)."""

    def check(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        for validate in validators:
            value = validate(value)
        return value

    return check


class _Kind:
    """How one hot type is decoded: its struct, its model, the validators of each field that
    has some, and the default of each optional one."""

    def __init__(self, struct: type[Payload], model: type[BaseModel]) -> None:
        fields = model.model_fields
        if struct.__struct_fields__ != tuple(fields):
            raise TypeError(f"{struct.__name__} does not mirror {model.__name__}, in order")
        self.decode = msgspec.json.Decoder(struct).decode
        self.model = model
        self.names = tuple(fields)
        self.checks = [
            (name, _checked(validators))
            for name, info in fields.items()
            if (validators := _validators(info))
        ]
        self.defaults = [(name, info) for name, info in fields.items() if not info.is_required()]


KINDS = {
    KPI_VALUE_V1: _Kind(KpiValue, KpiValueV1),
    KR_PROGRESS_V1: _Kind(KrProgress, KrProgressV1),
    OBJECTIVE_CHANGED_V1: _Kind(ObjectiveChanged, ObjectiveChangedV1),
}
FAST_TYPES = frozenset(KINDS)

_decode_envelope = msgspec.json.Decoder(Envelope).decode
_event_time = _checked(_validators(CloudEvent.model_fields["time"]))
_decode_any = msgspec.json.decode
_astuple = msgspec.structs.astuple
_EVENT_FIELDS = frozenset(CloudEvent.model_fields)
_EVENT_FIELDS_SENT = _EVENT_FIELDS - {"datacontenttype"}
# What makes msgspec's verdict differ from pydantic's, found in one search: a time's seconds
# with seven or more fractional digits (a number has no colon before it), or an ASCII
# character sent as a `\u00XX` escape (NUL, or a digit that hides such a fraction from the
# first pattern). Other escapes (`\"`, non-ASCII `\uXXXX`) leave the fast path alone.
SLOW_PATH = re.compile(rb":\d\d\.\d{7}|\\u00[0-7]")
_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, ValueError)


def decode(value: bytes) -> tuple[CloudEvent, BaseModel] | None:
    """The event and payload of a record of a `FAST_TYPES` type, as pydantic would make them;
    None for any other record, valid or not (`decode_record` then validates it)."""
    if SLOW_PATH.search(value) is not None:
        return None
    try:
        env = _decode_envelope(value)
        kind = KINDS.get(env.type)
        if kind is None:
            return None
        sent = kind.decode(env.data)
        at = _event_time(env.time)
        data = _decode_any(env.data)
        values = dict(zip(kind.names, _astuple(sent), strict=True))
        for name, check in kind.checks:
            values[name] = check(values[name])
        for name, info in kind.defaults:
            if values[name] is UNSET:
                values[name] = info.get_default(call_default_factory=True)
    except _ERRORS:
        return None
    sent_fields = _EVENT_FIELDS_SENT if env.datacontenttype is UNSET else _EVENT_FIELDS
    event = construct(
        CloudEvent,
        set(sent_fields),
        {
            "specversion": "1.0",
            "id": env.id,
            "source": env.source,
            "type": env.type,
            "time": at,
            "subject": env.subject,
            "tenant": env.tenant,
            "datacontenttype": "application/json",
            "data": data,
        },
        {},
    )
    return event, construct(kind.model, set(data), values, None)


__all__ = ["FAST_TYPES", "SLOW_PATH", "construct", "decode"]
