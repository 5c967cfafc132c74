"""The consumers' fetch settings (`LODESTAR_CONSUMER_FETCH_*`): the defaults the services
run with, and out-of-range values refused at start-up with the setting's name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings


def test_a_fetch_waits_20_ms_for_64_kib_by_default() -> None:
    settings = ServiceSettings()
    assert (settings.consumer_fetch_max_wait_ms, settings.consumer_fetch_min_bytes) == (
        20,
        65_536,
    )


def test_the_environment_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LODESTAR_CONSUMER_FETCH_MAX_WAIT_MS", "0")
    monkeypatch.setenv("LODESTAR_CONSUMER_FETCH_MIN_BYTES", "1")
    settings = ServiceSettings()
    assert (settings.consumer_fetch_max_wait_ms, settings.consumer_fetch_min_bytes) == (0, 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LODESTAR_CONSUMER_FETCH_MAX_WAIT_MS", "-1"),
        ("LODESTAR_CONSUMER_FETCH_MAX_WAIT_MS", "60000"),
        ("LODESTAR_CONSUMER_FETCH_MIN_BYTES", "0"),
        ("LODESTAR_CONSUMER_FETCH_MIN_BYTES", str(64 * 1024 * 1024)),
    ],
)
def test_out_of_range_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    field = name.removeprefix("LODESTAR_").lower()
    with pytest.raises(ValidationError, match=field):
        ServiceSettings()
