"""KPI cadences go out as RFC 3339 durations, which JSON Schema's `duration` format accepts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from services.metrics.schemas import CadenceOut


@pytest.mark.parametrize(
    ("cadence", "text"),
    [
        (timedelta(days=1), "P1D"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(days=2, seconds=5), "P2DT5S"),
        (timedelta(days=400), "P400D"),  # never "P1Y35D", which RFC 3339 refuses
        (timedelta(0), "PT0S"),
    ],
)
def test_cadence_serialises_as_an_rfc3339_duration(cadence: timedelta, text: str) -> None:
    adapter = TypeAdapter(CadenceOut)
    assert adapter.dump_python(cadence, mode="json") == text
    assert TypeAdapter(timedelta).validate_python(text) == cadence
