"""`decode_record`'s msgspec fast path (`shared.codec`) gives what pydantic alone gives
(`validate_record`): the same event and payload, field by field and as JSON, with the same
set fields, or the same DLQ reason; over fixed vectors and generated hostile records."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import codec
from shared.events import (
    KPI_VALUE_V1,
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    PAYLOADS,
    KpiValueV1,
    KrProgressV1,
    ObjectiveChangedV1,
)
from shared.inbound import InvalidEvent, decode_record, validate_record

MAX = 64 * 1024
NOW = datetime.now(UTC).replace(microsecond=123456)
DAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


DATA: dict[str, dict[str, Any]] = {
    KPI_VALUE_V1: {
        "kpi": "mql",
        "period": "day",
        "period_start": iso(DAY),
        "period_end": iso(DAY + timedelta(days=1)),
        "aggregation": "sum",
        "value": 1234.5678912345,
        "count": 17,
        "last_value": 12.25,
        "last_at": iso(NOW),
        "health": "green",
        "direction": "higher",
        "tags": ["growth", "sales"],
        "revision": 0,
    },
    KR_PROGRESS_V1: {
        "key_result_id": str(uuid.uuid4()),
        "objective_id": str(uuid.uuid4()),
        "cycle_id": str(uuid.uuid4()),
        "title": "Grow MQLs to 500 a week — “quoted” ünïcode 📈",
        "kind": "increase",
        "current": 321.5,
        "progress": 0.643,
        "raw_progress": 0.643,
        "expected": None,
        "status": "on_track",
        "previous_status": "at_risk",
        "kpi": "mql",
        "source": "kpi",
        "periods_met": 3,
        "periods_elapsed": 4,
    },
    OBJECTIVE_CHANGED_V1: {
        "objective_id": str(uuid.uuid4()),
        "cycle_id": str(uuid.uuid4()),
        "title": "Win the mid-market",
        "progress": 0.5,
        "status": "on_track",
        "state": "active",
        "rollup_progress": 0.25,
        "score": None,
    },
}


def envelope(type_: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "lodestar/metrics",
        "type": type_,
        "time": iso(NOW),
        "subject": "mql",
        "tenant": "acme",
        "datacontenttype": "application/json",
        "data": data,
    } | fields


def rec(value: bytes) -> Any:
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), ())


def outcome(decoder: Any, value: bytes) -> Any:
    """What a consumer sees: the objects (compared as objects, as JSON, and by set fields),
    or the DLQ reason."""
    try:
        inbound = decoder(rec(value), MAX)
    except InvalidEvent as exc:
        return ("refused", str(exc))
    event, payload = inbound.event, inbound.payload
    return (
        event,
        payload,
        type(payload),
        event.model_dump_json(),
        payload.model_dump_json() if payload is not None else None,
        event.model_fields_set,
        payload.model_fields_set if payload is not None else None,
        event.time.tzinfo,
        [type(v) for v in event.data.values()],
    )


def assert_same(value: bytes) -> None:
    assert outcome(decode_record, value) == outcome(validate_record, value)


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


class TestFixedVectors:
    @pytest.mark.parametrize("type_", sorted(DATA))
    def test_a_good_event_takes_the_fast_path_and_equals_pydantics(self, type_: str) -> None:
        raw = dumps(envelope(type_, DATA[type_]))
        assert codec.decode(raw) is not None, "the fast path took it"
        assert_same(raw)
        payload = decode_record(rec(raw), MAX).payload
        assert isinstance(payload, PAYLOADS[type_])

    @pytest.mark.parametrize("type_", sorted(DATA))
    def test_defaults_are_filled_and_left_unset(self, type_: str) -> None:
        model = PAYLOADS[type_]
        required = {n: v for n, v in DATA[type_].items() if model.model_fields[n].is_required()}
        body = envelope(type_, required)
        del body["datacontenttype"]
        raw = dumps(body)
        assert codec.decode(raw) is not None
        assert_same(raw)

    def test_the_payload_is_what_the_handlers_read(self) -> None:
        raw = dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1] | {"tags": []}))
        inbound = decode_record(rec(raw), MAX)
        value = inbound.payload
        assert isinstance(value, KpiValueV1)
        assert (inbound.event.tenant, value.kpi, value.period_start) == ("acme", "mql", DAY)
        assert value.last_at == NOW
        assert value.last_at.tzinfo is UTC
        kr = decode_record(rec(dumps(envelope(KR_PROGRESS_V1, DATA[KR_PROGRESS_V1]))), MAX)
        assert isinstance(kr.payload, KrProgressV1)
        assert kr.payload.expected is None
        objective = dumps(envelope(OBJECTIVE_CHANGED_V1, DATA[OBJECTIVE_CHANGED_V1]))
        ob = decode_record(rec(objective), MAX)
        assert isinstance(ob.payload, ObjectiveChangedV1)
        assert ob.payload.parent_id is None

    def test_a_default_list_is_not_shared(self) -> None:
        body = envelope(KPI_VALUE_V1, {k: v for k, v in DATA[KPI_VALUE_V1].items() if k != "tags"})
        first, second = (decode_record(rec(dumps(body)), MAX).payload for _ in range(2))
        assert isinstance(first, KpiValueV1)
        assert isinstance(second, KpiValueV1)
        assert first.tags == []
        assert first.tags is not second.tags

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("value", 5),
            ("value", 2**60 + 1),
            ("value", 10**30),
            ("value", 1e308),
            ("value", -0.0),
            ("value", True),
            ("value", "1.5"),
            ("value", None),
            ("count", 5.0),
            ("count", True),
            ("count", 2**64),
            ("count", -3),
            ("revision", -1),
            ("revision", 2**63),
            ("tags", ["a", 1]),
            ("tags", "a"),
            ("kpi", ""),
            ("kpi", "a\u0000b"),
            ("kpi", "\ud800"),
            ("kpi", "\ud83d\ude00"),
            ("health", "x" * 10_000),
            ("period_start", "1969-12-31T23:59:59Z"),
            ("period_start", "2999-12-31T23:59:59.999999Z"),
            ("period_start", "3000-01-01T00:00:00.000001Z"),
            ("period_start", "2026-11-02T00:00:00"),
            ("period_start", "2026-11-02T00:00:00.1234567Z"),
            ("period_start", "2026-11-02T00:00:00.9999999+05:30"),
            ("period_start", "2026-11-02t00:00:00z"),
            ("period_start", "2026-11-02 00:00:00-00:00"),
            ("period_start", "2026-11-02T00:00:00+0100"),
            ("period_start", "2026-11-02T00:00Z"),
            ("period_start", "2026-11-02"),
            ("period_start", 1_700_000_000),
            ("period_start", "1700000000"),
            ("extra", 1),
        ],
    )
    def test_an_odd_or_hostile_payload_field_gets_pydantics_verdict(
        self, field: str, value: Any
    ) -> None:
        assert_same(dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1] | {field: value})))

    @pytest.mark.parametrize(
        "fields",
        [
            {"specversion": "0.3"},
            {"id": ""},
            {"id": "x" * 257},
            {"source": "s" * 512},
            {"tenant": "Acme"},
            {"tenant": "acme\n"},
            {"tenant": "a" * 64},
            {"subject": "caf\u00e9"},
            {"time": "yesterday"},
            {"time": "2026-11-24T09:59:00"},
            {"time": iso(datetime.now(UTC) + timedelta(days=2))},
            {"time": "1969-12-31T23:59:59Z"},
            {"time": 0},
            {"datacontenttype": "text/plain"},
            {"data": []},
            {"data": None},
            {"traceparent": "00-abc"},
            {"type": "com.example.other"},
            {"type": "lodestar.kr.graduated.v1"},
        ],
    )
    def test_an_odd_or_hostile_envelope_gets_pydantics_verdict(
        self, fields: dict[str, Any]
    ) -> None:
        assert_same(dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1]) | fields))

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{not json",
            b"[]",
            b"null",
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])) + b" x",
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])).replace(b"1234.5678912345", b"NaN"),
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])).replace(b"1234.5678912345", b"1e999"),
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])).replace(b'"acme"', b'"acme\xff"'),
            # A key given twice: the last one counts, for both.
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])).replace(
                b'"count": 17', b'"count": 17, "count": 18'
            ),
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1])).replace(
                b'"tenant": "acme"', b'"tenant": "acme", "tenant": "Bad"'
            ),
            dumps(envelope(KPI_VALUE_V1, DATA[KPI_VALUE_V1], padding="x" * MAX)),
            # A seventh fractional digit sent escaped: msgspec would round it into the next
            # day, where pydantic truncates (the raw bytes show no seven digits).
            dumps(
                envelope(
                    KPI_VALUE_V1,
                    DATA[KPI_VALUE_V1] | {"last_at": "2026-11-02T23:59:59.999999\\u0039Z"},
                    time="2026-11-02T23:59:59.999999\\u0039Z",
                )
            ).replace(b"\\\\u0039", b"\\u0039"),
        ],
    )
    def test_a_malformed_record_gets_pydantics_verdict(self, raw: bytes) -> None:
        assert_same(raw)

    def test_an_empty_record_is_refused_as_before(self) -> None:
        empty = ConsumerRecord("t", 0, 0, 0, 0, None, None, None, 0, 0, ())
        with pytest.raises(InvalidEvent, match="empty record"):
            decode_record(empty, MAX)  # type: ignore[arg-type]


# ------------------------------------------------------------------ generated records

texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "a\u0000", "\ud800", "\udfff", "\ud83d\ude00", "acme", "x" * 300]),
)
times = st.builds(
    lambda year, rest, sep, frac, zone: f"{year:04d}-11-02{sep}{rest}{frac}{zone}",
    st.sampled_from([1, 1969, 1970, 2026, NOW.year + 1, 2999, 3000, 9999]),
    st.sampled_from(["09:59:00", "23:59:59", "24:00:00", "23:59:60", "09:59"]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.one_of(st.just(""), st.integers(0, 10**10).map(lambda n: f".{n}"), st.just(",5")),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+05:30", "-12:00", "+14:00", "+0100"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    times,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A good record of a hot type, with a few of its fields (envelope or data) changed,
    removed or added, encoded with or without ASCII escapes."""
    type_ = draw(st.sampled_from(sorted(DATA)))
    data = dict(DATA[type_])
    body = envelope(type_, data)
    for _ in range(draw(st.integers(0, 3))):
        where = body if draw(st.booleans()) else data
        field = draw(st.sampled_from([*where, "extra"]))
        if draw(st.integers(0, 4)) == 0:
            where.pop(field, None)
        else:
            where[field] = draw(values)
    if draw(st.booleans()):
        body["time"] = iso(NOW + timedelta(seconds=draw(st.integers(-(10**9), 10**5))))
    ascii_only = draw(st.booleans())
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_any_record_gets_pydantics_verdict(raw: bytes) -> None:
    assert_same(raw)


def test_the_generated_records_reach_both_verdicts() -> None:
    """The property above is not vacuous: the fast path takes good records, and some
    changed ones too, and pydantic refuses others."""
    seen = {"taken": 0, "refused": 0}

    @settings(max_examples=300, deadline=None, database=None)
    @given(records())
    def tally(raw: bytes) -> None:
        seen["taken"] += codec.decode(raw) is not None
        seen["refused"] += outcome(validate_record, raw)[0] == "refused"

    tally()
    assert seen["taken"] > 30, seen
    assert seen["refused"] > 30, seen
