"""The msgspec hot-path decoder gives the same events, and the same DLQ reasons, as pydantic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from services.metrics.codec import Decoded, identity, measurement_decoder
from shared.events import MeasurementRetractedV1
from shared.inbound import InvalidEvent, decode_record
from tests.support.events import measurement

MAX = 4096
fast = measurement_decoder(MAX)


def patched(**fields: Any) -> bytes:
    body = json.loads(measurement("acme", "mql", 1.0))
    body.update(fields)
    return json.dumps(body).encode()


def rec(value: bytes) -> Any:
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), ())


def reason(value: bytes, decoder: Any) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decoder(rec(value))
    return str(caught.value)


class TestSameAsPydantic:
    @pytest.mark.parametrize(
        "value",
        [
            measurement("acme", "mql", 42.5),
            measurement("acme", "mql", 3),
            measurement("acme", "mql", -0.0, source="crm/x"),
        ],
    )
    def test_a_good_record_decodes_to_the_validated_event(self, value: bytes) -> None:
        body = json.loads(value)
        body["data"]["dimensions"] = {"region": "emea"}
        raw = json.dumps(body).encode()
        ours, theirs = fast(rec(raw)), decode_record(rec(raw), MAX)
        assert ours.event == theirs.event
        assert ours.event.model_dump() == theirs.event.model_dump()
        assert ours.payload == theirs.payload
        assert ours.event.key == "acme/mql"

    @pytest.mark.parametrize(
        "value",
        [
            measurement("acme", "mql", False),
            measurement("acme", "mql", "1.5"),
            measurement("acme", "mql", None),
            measurement("acme", "mql", 1.0, specversion="0.3"),
            patched(tenant="Acme"),
            patched(tenant="acme\n"),
            patched(id=""),
            patched(time="yesterday"),
            patched(time="2026-11-24T09:59:00"),
            measurement("acme", "mql", 1.0, padding="x" * MAX),
            measurement("acme", "mql", 1.0).replace(b"1.0", b"NaN"),
            measurement("acme", "mql", 1.0).replace(b"1.0", b"1e999"),
            measurement("acme", "mql", 1.0).replace(b'"value": 1.0', b'"value": 1.0, "x": 1'),
            b"{not json",
            b"[]",
        ],
    )
    def test_a_bad_record_is_refused_with_pydantics_reason(self, value: bytes) -> None:
        assert reason(value, fast) == reason(value, lambda r: decode_record(r, MAX))

    @pytest.mark.parametrize("at", ["2026-11-24T23:59:59.9999999Z", "2026-11-24T09:59:00.1234567Z"])
    def test_a_time_past_microseconds_is_truncated_as_pydantic_does(self, at: str) -> None:
        raw = patched(time=at)
        ours, theirs = fast(rec(raw)), decode_record(rec(raw), MAX)
        assert ours.event == theirs.event
        assert ours.event.time.day == 24

    @pytest.mark.parametrize(
        ("escaped", "day"),
        [(b".999999\\u0039Z", 24), (b".99999\\u00399Z", 24), (b".9\\u0039Z", 24)],
    )
    def test_an_escaped_digit_in_the_time_counts_as_a_digit(self, escaped: bytes, day: int) -> None:
        raw = patched(time="2026-11-24T23:59:59.0Z").replace(b".0Z", escaped)
        ours, theirs = fast(rec(raw)), decode_record(rec(raw), MAX)
        assert ours.event == theirs.event
        assert ours.event.time.day == day

    @pytest.mark.parametrize(
        "data",
        [
            {"value": 1.0, "revision": 2},
            {"value": 1.0, "revision": 0},
            {"value": 1.0, "revision": 2**53, "dimensions": {"region": "emea"}},
            {"value": 1.0},
        ],
    )
    def test_a_restatement_decodes_to_the_validated_event(self, data: dict[str, Any]) -> None:
        raw = patched(data=data)
        ours, theirs = fast(rec(raw)), decode_record(rec(raw), MAX)
        assert ours.event == theirs.event
        assert ours.event.model_dump() == theirs.event.model_dump()
        assert ours.payload == theirs.payload

    @pytest.mark.parametrize("revision", [-1, 1.5, 2.0, True, "2", None, 2**53 + 1])
    def test_a_bad_revision_is_refused_with_pydantics_reason(self, revision: Any) -> None:
        raw = patched(data={"value": 1.0, "revision": revision})
        assert reason(raw, fast) == reason(raw, lambda r: decode_record(r, MAX))

    def test_a_retraction_is_decoded_as_pydantic_does(self) -> None:
        raw = patched(
            type="lodestar.kpi.measurement.retracted.v1", data={"source": "crm", "id": "e1"}
        )
        ours = fast(rec(raw))
        assert ours == decode_record(rec(raw), MAX)
        assert isinstance(ours.payload, MeasurementRetractedV1)
        assert (ours.payload.source, ours.payload.id) == ("crm", "e1")

    def test_another_event_type_is_decoded_as_pydantic_does(self) -> None:
        raw = measurement("acme", "mql", 1.0, type="com.example.other")
        assert fast(rec(raw)).payload is None


class TestDeferred:
    def test_the_pydantic_objects_are_built_only_when_read(self) -> None:
        raw = measurement("acme", "mql", 42.5)
        ours = fast(rec(raw))
        assert isinstance(ours.decoded, Decoded)
        assert ours.decoded.envelope.tenant == "acme"
        assert ours.decoded.envelope.data.value == 42.5
        assert ours.decoded.key == identity("acme", "tests/producer", ours.decoded.envelope.id)
        assert ours._event is None, "nothing built yet"
        assert ours == decode_record(rec(raw), MAX)
        assert ours._event is not None

    def test_payload_first_builds_both(self) -> None:
        ours = fast(rec(measurement("acme", "mql", 7.0)))
        assert ours.payload == decode_record(rec(measurement("acme", "mql", 7.0)), MAX).payload
        assert ours.event.subject == "mql"

    def test_a_validated_inbound_has_no_decoded_form(self) -> None:
        assert decode_record(rec(measurement("acme", "mql", 1.0)), MAX).decoded is None
