"""Metrics' `okr.events` decoder: KR progress and objective changes skipped with only their
type and time read; `kr.graduated`, foreign types and anything malformed at its head decoded
exactly as `decode_record` does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from services.metrics.handlers import EVENT_HANDLERS
from services.metrics.okr_codec import IGNORED, skipping_decoder
from shared.events import KR_GRADUATED_V1, KR_PROGRESS_V1, MEASUREMENT_V1
from shared.inbound import InvalidEvent, decode_record

MAX = 4096
decode = skipping_decoder(MAX)
AT = "2026-12-01T10:00:00.123456Z"


def event(type_: str, data: dict[str, Any], **fields: Any) -> bytes:
    body = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "lodestar/goals",
        "type": type_,
        "time": AT,
        "subject": "kr-1",
        "tenant": "acme",
        "data": data,
        **fields,
    }
    return json.dumps(body).encode()


GRADUATED = {
    "key_result_id": "kr-1",
    "kpi": "churn",
    "kind": "keep_below",
    "target": 5.0,
    "bound_low": None,
    "bound_high": 5.0,
    "periods_met": 3,
}


def rec(value: bytes) -> Any:
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), ())


def test_the_ignored_types_are_none_that_metrics_handles() -> None:
    assert IGNORED
    assert not IGNORED & EVENT_HANDLERS.keys()


def test_a_handled_type_is_decoded_as_decode_record_does() -> None:
    record = rec(event(KR_GRADUATED_V1, GRADUATED))
    assert decode(record) == decode_record(record, MAX)
    assert decode(record).payload is not None


def test_another_type_is_skipped_with_its_type_and_time_only() -> None:
    # Its data is not even valid for its type: nothing past the head is read.
    inbound = decode(rec(event(KR_PROGRESS_V1, {"not": "a progress"})))
    assert inbound.payload is None
    assert inbound.event.type == KR_PROGRESS_V1
    assert inbound.event.time == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert inbound.event.type not in EVENT_HANDLERS


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        json.dumps({"time": AT}).encode(),  # no type
        event(KR_PROGRESS_V1, {}, time="2026-12-01T10:00:00"),  # no offset
        event(KR_GRADUATED_V1, {"kpi": 1}),  # a handled type, invalid
        event(KR_GRADUATED_V1, GRADUATED, tenant="Not A Slug"),
        event(MEASUREMENT_V1, {"value": "x"}),  # a foreign type: dead-lettered as before
        b"x" * (MAX + 1),
    ],
)
def test_what_the_head_refuses_or_a_handled_type_gets_the_usual_reason(value: bytes) -> None:
    with pytest.raises(InvalidEvent) as ours:
        decode(rec(value))
    with pytest.raises(InvalidEvent) as theirs:
        decode_record(rec(value), MAX)
    assert str(ours.value) == str(theirs.value)
