"""The decoder of `okr.events` for metrics, which handles only `kr.graduated` among the many
events goals publishes there (a KR progress event per linked KR per batch).

A record is read for its CloudEvent `type` and `time` alone (msgspec skips the rest of the
JSON without building it). A record of a type goals publishes there that metrics ignores
(`IGNORED`: KR progress, objective changes) becomes an `Inbound` whose envelope is a
stand-in: its `type` and `time` as sent (the time is what the consumer's deduplication window
judges), the rest empty, no payload; no handler reads it (metrics' `EVENT_HANDLERS` has no
entry for those types). Anything else — `kr.graduated`, a foreign type, a record whose head
msgspec refuses — goes through the project's `decode_record` (full validation, the usual
dead-letter reasons), as before. So a progress or objective event invalid past its head is no
longer metrics' to dead-letter; alerts, which handles those types, still does. The wire
format is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from aiokafka import ConsumerRecord

from shared.codec import construct
from shared.events import KR_PROGRESS_V1, OBJECTIVE_CHANGED_V1, CloudEvent
from shared.inbound import Inbound, decode_record

IGNORED = frozenset({KR_PROGRESS_V1, OBJECTIVE_CHANGED_V1})


class Head(msgspec.Struct):
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    time: Annotated[datetime, msgspec.Meta(tz=True)]


_head = msgspec.json.Decoder(Head)
_EVENT_FIELDS = frozenset(CloudEvent.model_fields)


def skipping_decoder(
    max_bytes: int, ignored: Collection[str] = IGNORED
) -> Callable[[ConsumerRecord[bytes, bytes]], Inbound]:
    """A `ConsumerSpec.decoder` that reads only the head of records of the `ignored` types."""
    skipped = frozenset(ignored)
    decode_head = _head.decode

    def decode(record: ConsumerRecord[bytes, bytes]) -> Inbound:
        value = record.value
        if value is None or len(value) > max_bytes:
            return decode_record(record, max_bytes)  # raises with the usual reason
        try:
            head = decode_head(value)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            return decode_record(record, max_bytes)
        if head.type not in skipped:
            return decode_record(record, max_bytes)
        stand_in = {
            "specversion": "1.0",
            "id": "",
            "source": "",
            "type": head.type,
            "time": head.time.astimezone(UTC),
            "subject": "",
            "tenant": "",
            "datacontenttype": "application/json",
            "data": {},
        }
        return Inbound(record, construct(CloudEvent, _EVENT_FIELDS, stand_in, {}), None)

    return decode
