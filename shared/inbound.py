"""What a consume loop hands its handler and takes back: a decoded record (`Inbound`), a
refused one with its reason (`Rejection`), and the decoding of a record as a CloudEvent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from shared import codec
from shared.events import PAYLOADS, CloudEvent


class InvalidEvent(Exception):
    """A record that can never be processed; its message is the DLQ reason."""


Built = tuple[CloudEvent, BaseModel | None]


class Inbound:
    """One decoded record: the envelope, and its typed payload when the type is known.

    Read-only, compared by (record, event, payload). A decoder on a hot path may defer the
    pydantic objects (`Inbound.deferred`): it hands over its own already-validated form of the
    record as `decoded`, and `event` and `payload` are built from it only when first read.
    """

    __slots__ = ("_build", "_decoded", "_event", "_payload", "_record")
    __match_args__ = ("record", "event", "payload")

    def __init__(
        self, record: ConsumerRecord[bytes, bytes], event: CloudEvent, payload: BaseModel | None
    ) -> None:
        self._record = record
        self._event: CloudEvent | None = event
        self._payload = payload
        self._decoded: object = None
        self._build: Callable[[Any], Built] | None = None

    @classmethod
    def deferred(
        cls, record: ConsumerRecord[bytes, bytes], decoded: object, build: Callable[[Any], Built]
    ) -> Inbound:
        """An inbound whose `event` and `payload` are `build(decoded)`, made when first read;
        `decoded` must be valid exactly when `build` succeeds (validate before deferring)."""
        inbound = cls.__new__(cls)
        inbound._record = record
        inbound._event = None
        inbound._payload = None
        inbound._decoded = decoded
        inbound._build = build
        return inbound

    @property
    def record(self) -> ConsumerRecord[bytes, bytes]:
        return self._record

    @property
    def decoded(self) -> object:
        """The decoder's own form of the record (`deferred`), else None."""
        return self._decoded

    @property
    def event(self) -> CloudEvent:
        if self._event is None:
            self._materialise()
        assert self._event is not None
        return self._event

    @property
    def payload(self) -> BaseModel | None:
        if self._event is None:
            self._materialise()
        return self._payload

    def _materialise(self) -> None:
        assert self._build is not None
        # Two threads reading at once build equal objects, and either pair is kept whole:
        # the payload is set before the event, whose presence says both are there.
        event, payload = self._build(self._decoded)
        self._payload = payload
        self._event = event

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Inbound):
            return NotImplemented
        return (self.record, self.event, self.payload) == (other.record, other.event, other.payload)

    __hash__ = None  # type: ignore[assignment]  # as the dataclass it was: its fields are not

    def __repr__(self) -> str:
        return f"Inbound(record={self.record!r}, event={self.event!r}, payload={self.payload!r})"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record refused, with the reason sent in its DLQ header; `category` is the bounded
    label it is counted under in `/metrics` (derived from the reason when not given)."""

    record: ConsumerRecord[bytes, bytes]
    reason: str
    category: str | None = None

    @property
    def kind(self) -> str:
        return self.category or reason_category(self.reason)


_CATEGORIES = (
    ("handler failed", "handler_failed"),
    ("payload too large", "too_large"),
    ("outside the deduplication window", "outside_window"),
    ("unknown tenant", "unknown_reference"),
    ("no tenant proof", "tenant_proof"),
    ("invalid tenant proof", "tenant_proof"),
    ("tenant proof refused", "tenant_proof"),
    ("unknown kpi", "unknown_reference"),
    ("unexpected", "unexpected_type"),
    ("invalid", "invalid_event"),
    ("empty record", "invalid_event"),
    ("undecodable", "invalid_event"),
)


def reason_category(reason: str) -> str:
    """The bounded category of a free-text DLQ reason (`other` for one not listed)."""
    lowered = reason.lower()
    for prefix, category in _CATEGORIES:
        if lowered.startswith(prefix):
            return category
    return "other"


class BatchHandler(Protocol):
    """Stores a batch in one transaction; returns the records it refused, with reasons."""

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[Rejection]: ...


def validation_reason(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error, for DLQ headers and logs."""
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error["loc"]) or "(record)"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def decode_record(record: ConsumerRecord[bytes, bytes], max_bytes: int) -> Inbound:
    """Validate one record as a CloudEvent (and its payload, for the types Lodestar knows).

    A record of a type consumed most (`shared.codec.FAST_TYPES`) is decoded with msgspec
    when it can be, into the same objects; any other, or one msgspec cannot vouch for, is
    validated by pydantic (`validate_record`), which gives a bad record's DLQ reason."""
    value = record.value
    if value is not None and len(value) <= max_bytes:
        fast = codec.decode(value)
        if fast is not None:
            return Inbound(record, *fast)
    return validate_record(record, max_bytes)


def validate_record(record: ConsumerRecord[bytes, bytes], max_bytes: int) -> Inbound:
    """`decode_record` by pydantic alone: the reference the fast path is tested against."""
    if record.value is None:
        raise InvalidEvent("empty record")
    if len(record.value) > max_bytes:
        raise InvalidEvent(f"payload too large: {len(record.value)} bytes > {max_bytes}")
    try:
        event = CloudEvent.model_validate_json(record.value)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid CloudEvent: {validation_reason(exc)}") from exc
    payload_type = PAYLOADS.get(event.type)
    payload = None
    if payload_type is not None:
        try:
            payload = payload_type.model_validate(event.data)
        except ValidationError as exc:
            raise InvalidEvent(f"invalid data for {event.type}: {validation_reason(exc)}") from exc
    return Inbound(record, event, payload)


Decoder = Callable[[ConsumerRecord[bytes, bytes]], Inbound]
