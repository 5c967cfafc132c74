"""Bounds at the edge: hostile timestamps, strings and numbers are refused the same way by the
msgspec codec, the pydantic events and the request schemas, and what passes stays computable.

Hypothesis runs derandomized (a fixed seed per test), so CI sees the same examples every run.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.alerts.schemas import RuleCreate
from services.goals.domain.progress import KeyResultSpec, KrKind, definition_error
from services.goals.schemas import KeyResultCreate
from services.metrics.codec import Decoded, measurement_decoder
from services.metrics.schemas import MeasurementIn
from shared.bounds import MAX_MAGNITUDE, first_bad_text
from shared.events import CloudEvent, KrProgressV1
from shared.inbound import InvalidEvent, decode_record

FIXED = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_BYTES = 64 * 1024
SKEW = timedelta(days=1)
fast = measurement_decoder(MAX_BYTES, SKEW.total_seconds())

# ---------------------------------------------------------------- hostile values

EXTREME_TIMES = [
    "9999-12-31T23:00:00Z",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00+00:01",
    "2999-12-31T23:59:59Z",
    "2026-11-24T09:59:00",
    "2026-02-30T00:00:00Z",
    "2026-11-24T09:59:00+24:00",
    "yesterday",
    "",
]
times = st.one_of(
    st.sampled_from(EXTREME_TIMES),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.builds(
            timezone,
            st.timedeltas(
                min_value=-timedelta(hours=23, minutes=59),
                max_value=timedelta(hours=23, minutes=59),
            ),
        ),
    ).map(lambda t: t.isoformat()),
    st.text(max_size=40),
)
texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(["a", "\x00", "\ud800", "\udfff", "é", "\n"]), max_size=8),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2 * MAX_MAGNITUDE, max_value=2 * MAX_MAGNITUDE),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([True, False, None, "1.5", [], {}]),
)


def _dumps(body: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate travels as a \ud800 escape, as any other producer sends it
    return json.dumps(body, allow_nan=True).encode()


@st.composite
def hostile_measurements(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": draw(st.one_of(st.uuids().map(str), texts)),
        "source": draw(st.one_of(st.just("crm/sync"), texts)),
        "time": draw(st.one_of(st.just(datetime.now(UTC).isoformat()), times)),
        "subject": draw(st.one_of(st.just("mql"), texts)),
        "tenant": draw(st.one_of(st.just("acme"), texts)),
        "datacontenttype": "application/json",
        "data": {"value": draw(st.one_of(st.just(1.0), numbers))},
    }
    if draw(st.booleans()):
        body["data"]["dimensions"] = draw(st.dictionaries(texts, texts, max_size=3))
    if draw(st.booleans()):
        body["data"][draw(st.sampled_from(["extra", "value2"]))] = 1
    return _dumps(body)


def rec(value: bytes) -> Any:
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), ())


def verdict(decode: Any, value: bytes) -> str | None:
    """None when accepted, the reason when refused; anything else raised fails the test."""
    try:
        decode(rec(value))
    except InvalidEvent as exc:
        return str(exc)
    return None


def within_bounds(body: dict[str, Any], now: datetime) -> bool:
    """The bounds, computed here independently of shared.bounds."""
    value = body["data"]["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value) or abs(value) > 1e15:
        return False
    at = datetime.fromisoformat(body["time"])
    if at.tzinfo is None:
        return False
    if not (datetime(1970, 1, 1, tzinfo=UTC) <= at <= now + SKEW):
        return False
    strings = [body["id"], body["source"], body["subject"]]
    dims = body["data"].get("dimensions", {})
    strings += list(dims) + list(dims.values())
    return all("\x00" not in s and s.encode("utf-8", "replace").decode() == s for s in strings)


class TestCodecAgreesWithPydantic:
    @FIXED
    @given(hostile_measurements())
    def test_same_verdict_and_only_bounded_records_pass(self, raw: bytes) -> None:
        ours = verdict(fast, raw)
        theirs = verdict(lambda r: decode_record(r, MAX_BYTES), raw)
        assert ours == theirs
        if ours is None:
            assert within_bounds(json.loads(raw), datetime.now(UTC))
            inbound = fast(rec(raw))
            event = inbound.event  # building the pydantic objects never overflows
            assert datetime(1970, 1, 1, tzinfo=UTC) <= event.time

    @pytest.mark.parametrize(
        ("time", "reason"),
        [
            ("9999-12-31T23:00:00Z", "must not be after 3000-01-01T00:00:00Z"),
            ("9999-12-31T23:59:59-23:59", "must not be after 3000-01-01T00:00:00Z"),
            ("2999-12-31T23:00:00Z", "more than max_future_skew_s=86400 s in the future"),
            ("0001-01-01T00:00:00+23:59", "must not be before 1970-01-01"),
            ("1969-12-31T23:59:59Z", "must not be before 1970-01-01"),
        ],
    )
    def test_the_extreme_times_are_refused_with_a_reason(self, time: str, reason: str) -> None:
        raw = _dumps({**_good(), "time": time})
        refused = verdict(fast, raw)
        assert refused is not None
        assert reason in refused

    def test_a_time_within_the_skew_passes_and_one_past_it_does_not(self) -> None:
        soon = datetime.now(UTC) + SKEW - timedelta(minutes=5)
        late = datetime.now(UTC) + SKEW + timedelta(minutes=5)
        assert isinstance(fast(rec(_dumps({**_good(), "time": soon.isoformat()}))).decoded, Decoded)
        refused = verdict(fast, _dumps({**_good(), "time": late.isoformat()}))
        assert refused is not None
        assert "max_future_skew_s" in refused

    @pytest.mark.parametrize("field", ["id", "source", "subject"])
    def test_a_nul_in_an_envelope_string_is_refused(self, field: str) -> None:
        refused = verdict(fast, _dumps({**_good(), field: "a\x00b"}))
        assert refused is not None
        assert "NUL" in refused

    def test_a_nul_in_a_dimension_is_refused_and_an_escaped_backslash_u_is_not(self) -> None:
        body = _good()
        body["data"]["dimensions"] = {"region": "em\x00ea"}
        refused = verdict(fast, _dumps(body))
        assert refused is not None
        assert "NUL" in refused
        body["data"]["dimensions"] = {"path": "C:\\u0000"}  # a backslash, then "u0000"
        assert isinstance(fast(rec(_dumps(body))).decoded, Decoded)

    @pytest.mark.parametrize("value", [1e15, -1e15, 5e-324, 0.0])
    def test_values_at_the_bound_pass(self, value: float) -> None:
        assert fast(rec(_dumps({**_good(), "data": {"value": value}}))).payload.value == value  # type: ignore[union-attr]

    @pytest.mark.parametrize("value", [1.0000000000000002e15, -1e16, 1.7976931348623157e308])
    def test_values_past_the_bound_are_refused(self, value: float) -> None:
        refused = verdict(fast, _dumps({**_good(), "data": {"value": value}}))
        assert refused is not None
        assert "within ±1e+15" in refused

    def test_invalid_utf8_is_refused_not_raised(self) -> None:
        raw = _dumps(_good()).replace(b"crm/sync", b"crm/\xed\xa0\x80")
        assert verdict(fast, raw) is not None


def _good() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": "e-1",
        "source": "crm/sync",
        "time": "2026-11-24T09:59:00Z",
        "subject": "mql",
        "tenant": "acme",
        "data": {"value": 1.0},
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


class TestEveryString:
    @FIXED
    @given(
        st.recursive(
            texts | st.integers(),
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3),
            max_leaves=10,
        )
    )
    def test_first_bad_text_finds_a_nul_or_surrogate_wherever_it_is(self, value: Any) -> None:
        flat = "".join(_strings(value))
        bad = "\x00" in flat or any(0xD800 <= ord(c) <= 0xDFFF for c in flat)
        assert (first_bad_text(value) is not None) == bad

    def test_a_payload_string_of_any_event_is_checked(self) -> None:
        data = {
            "key_result_id": "kr\x00",
            "objective_id": "o",
            "cycle_id": "c",
            "title": "t",
            "kind": "increase",
            "current": 1.0,
            "progress": 0.5,
            "raw_progress": 0.5,
            "expected": None,
            "status": "on_track",
        }
        with pytest.raises(ValidationError, match="NUL"):
            KrProgressV1.model_validate(data)
        with pytest.raises(ValidationError, match="NUL"):
            CloudEvent.model_validate({**_good(), "type": "lodestar.kr.progress.v1", "data": data})

    def test_a_payload_float_of_an_event_must_be_finite(self) -> None:
        data = {
            "key_result_id": "kr",
            "objective_id": "o",
            "cycle_id": "c",
            "title": "t",
            "kind": "increase",
            "current": 1.0,
            "progress": math.nan,
            "raw_progress": 0.5,
            "expected": None,
            "status": "on_track",
        }
        with pytest.raises(ValidationError, match="finite"):
            KrProgressV1.model_validate(data)


class TestRequests:
    @FIXED
    @given(
        st.fixed_dictionaries(
            {"kpi": st.one_of(st.just("mql"), texts), "value": numbers, "time": times},
            optional={"id": texts, "source": texts, "dimensions": st.dictionaries(texts, texts)},
        )
    )
    def test_a_measurement_request_is_refused_with_a_validation_error_only(
        self, body: dict[str, Any]
    ) -> None:
        try:
            accepted = MeasurementIn.model_validate(body)
        except ValidationError:
            return
        assert within_bounds(
            {
                "id": accepted.id or "",
                "source": accepted.source or "",
                "subject": accepted.kpi,
                "time": accepted.time.isoformat(),
                "data": {"value": accepted.value, "dimensions": accepted.dimensions},
            },
            datetime.now(UTC),
        )

    def test_the_original_example_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="must not be after"):
            MeasurementIn.model_validate(
                {"kpi": "mql", "value": 1.0, "time": "9999-12-31T23:00:00Z"}
            )

    @pytest.mark.parametrize(
        ("start", "target"),
        [(0.0, 5e-324), (0.0, 1e-10), (1e15, 1e15), (-5e-324, 0.0)],
    )
    def test_a_kr_whose_progress_could_overflow_is_refused(
        self, start: float, target: float
    ) -> None:
        spec = _kr(start, target)
        error = definition_error(spec)
        assert error is not None
        assert "at least" in error

    @FIXED
    @given(
        st.floats(min_value=-1e15, max_value=1e15),
        st.floats(min_value=-1e15, max_value=1e15),
        # A current value is a check-in (within ±1e15) or a KPI aggregate: a sum of 1e265
        # bounded measurements is more than any KPI will ever see.
        st.floats(min_value=-1e280, max_value=1e280),
    )
    def test_an_accepted_kr_has_finite_progress_for_any_current_value(
        self, start: float, target: float, current: float
    ) -> None:
        spec = _kr(min(start, target), max(start, target))
        if definition_error(spec) is not None:
            return
        assert spec.start is not None
        assert spec.target is not None
        assert math.isfinite((current - spec.start) / (spec.target - spec.start))

    @pytest.mark.parametrize("field", ["start", "target", "bound_low", "bound_high", "weight"])
    def test_kr_numbers_past_the_bound_are_refused(self, field: str) -> None:
        with pytest.raises(ValidationError, match="within"):
            KeyResultCreate.model_validate({"title": "t", "kind": "increase", field: 2e15})

    @pytest.mark.parametrize("field", ["threshold", "resolve_threshold"])
    def test_rule_thresholds_past_the_bound_are_refused(self, field: str) -> None:
        body: dict[str, Any] = {"name": "r", "kpi": "mql", "threshold": 1.0, field: -2e15}
        with pytest.raises(ValidationError, match="within"):
            RuleCreate.model_validate(body)

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "r", "kpi": "mql", "threshold": 1.0, "labels": {"team": "a\x00"}},
            {"name": "r", "kpi": "mql", "threshold": 1.0, "annotations": {"summary": "\ud800"}},
        ],
    )
    def test_rule_labels_and_annotations_are_checked(self, body: dict[str, Any]) -> None:
        with pytest.raises(ValidationError, match=r"NUL|surrogate"):
            RuleCreate.model_validate(body)


def _kr(start: float, target: float) -> KeyResultSpec:
    return KeyResultSpec(kind=KrKind.INCREASE, start=start, target=target)
