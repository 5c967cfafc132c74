"""The CloudEvents envelope and payloads accept what DESIGN.md promises and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.events import CloudEvent, KpiValueV1, MeasurementV1, TenantV1, TimestampIn, new_event

GOOD: dict[str, Any] = {
    "specversion": "1.0",
    "type": "lodestar.kpi.measurement.v1",
    "id": "8c0c7a4e-1",
    "source": "crm/hubspot-sync",
    "time": "2026-11-24T09:59:00Z",
    "subject": "mql",
    "tenant": "acme",
    "datacontenttype": "application/json",
    "data": {"value": 42.0, "dimensions": {"region": "emea"}},
}


def parse(**changes: Any) -> CloudEvent:
    return CloudEvent.model_validate_json(json.dumps({**GOOD, **changes}))


class TestEnvelope:
    def test_the_documented_example_parses(self) -> None:
        event = parse()
        assert event.time == datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
        assert event.key == "acme/mql"
        assert MeasurementV1.model_validate(event.data).dimensions == {"region": "emea"}

    def test_time_offsets_are_normalised_to_utc(self) -> None:
        assert parse(time="2026-11-24T10:59:00+01:00").time == datetime(
            2026, 11, 24, 9, 59, tzinfo=UTC
        )

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("specversion", "0.3"),
            ("time", "2026-11-24T09:59:00"),  # no timezone
            ("tenant", "Not A Slug"),
            ("id", ""),
            ("subject", 7),
            ("datacontenttype", "text/plain"),
        ],
    )
    def test_invalid_envelopes_are_refused(self, field: str, value: Any) -> None:
        with pytest.raises(ValidationError):
            parse(**{field: value})

    def test_missing_fields_are_refused(self) -> None:
        body = {k: v for k, v in GOOD.items() if k != "source"}
        with pytest.raises(ValidationError, match="source"):
            CloudEvent.model_validate_json(json.dumps(body))


class TestMeasurement:
    @pytest.mark.parametrize("value", [False, True, "42", None, {"v": 1}])
    def test_value_must_be_a_json_number(self, value: Any) -> None:
        with pytest.raises(ValidationError):
            MeasurementV1.model_validate({"value": value})

    def test_integers_are_numbers(self) -> None:
        assert MeasurementV1.model_validate({"value": 3}).value == 3.0

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_value_must_be_finite(self, value: float) -> None:
        with pytest.raises(ValidationError, match="finite"):
            MeasurementV1.model_validate({"value": value})


def test_new_events_round_trip() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    data = KpiValueV1(
        kpi="mql",
        period="day",
        period_start=at,
        period_end=at,
        aggregation="sum",
        value=3.0,
        count=2,
        last_value=1.0,
        last_at=at,
        health="green",
    )
    event = new_event(
        type="lodestar.kpi.value.v1",
        source="lodestar/metrics",
        tenant="acme",
        subject="mql",
        data=data,
    )
    again = CloudEvent.model_validate_json(event.to_json())
    assert again == event
    assert KpiValueV1.model_validate(again.data) == data


class TestTenant:
    def test_a_known_zone_is_taken_and_utc_is_the_default(self) -> None:
        assert TenantV1(slug="acme", name="Acme").timezone == "UTC"
        assert TenantV1(slug="acme", name="Acme", timezone="Asia/Kathmandu").timezone == (
            "Asia/Kathmandu"
        )

    @pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "", "x" * 65])
    def test_an_unknown_zone_is_refused(self, name: str) -> None:
        """A forged `lodestar.tenant.v1` on `tenants` is dead-lettered, never stored: metrics
        could not roll up a period in a zone it cannot read."""
        with pytest.raises(ValidationError):
            TenantV1(slug="acme", name="Acme", timezone=name)


class TestTimestampIn:
    """Timestamps in request bodies: RFC 3339 strings with a zone, never numbers."""

    def test_a_zoned_string_is_normalised_to_utc(self) -> None:
        parsed = TypeAdapter(TimestampIn).validate_python("2026-11-24T10:59:00+01:00")
        assert parsed == datetime(2026, 11, 24, 9, 59, tzinfo=UTC)

    @pytest.mark.parametrize("value", [0, 1732442340, True, "2026-11-24T09:59:00", None])
    def test_numbers_and_zoneless_strings_are_refused(self, value: Any) -> None:
        with pytest.raises(ValidationError):
            TypeAdapter(TimestampIn).validate_python(value)
