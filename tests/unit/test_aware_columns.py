"""The column types that hold an instant store NULL for None, refuse a naive datetime, and read
an aware one back as the same instant in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from services.metrics.tables import EpochMicros
from shared.tables import AwareDateTime, UtcDateTime

DIALECTS = [sqlite.dialect(), postgresql.dialect()]
PARIS_SUMMER = timezone(timedelta(hours=2))


@pytest.mark.parametrize("column", [UtcDateTime(), EpochMicros()])
@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_none_is_null_and_a_naive_datetime_is_refused(
    column: AwareDateTime, dialect: Dialect
) -> None:
    assert column.process_bind_param(None, dialect) is None
    with pytest.raises(ValueError, match="naive datetime"):
        column.process_bind_param(datetime(2026, 12, 2, 9, 30), dialect)


@pytest.mark.parametrize("column", [UtcDateTime(), EpochMicros()])
@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_an_aware_datetime_reads_back_as_the_same_instant_in_utc(
    column: AwareDateTime, dialect: Dialect
) -> None:
    at = datetime(2026, 12, 2, 11, 30, 0, 123456, tzinfo=PARIS_SUMMER)
    stored = column.process_bind_param(at, dialect)
    back = column.process_result_value(stored, dialect)
    assert back == datetime(2026, 12, 2, 9, 30, 0, 123456, tzinfo=UTC)
    assert back is not None
    assert back.tzinfo == UTC


def test_epoch_micros_stores_microseconds_since_the_epoch() -> None:
    at = datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)
    assert EpochMicros().process_bind_param(at, sqlite.dialect()) == 1_000_005
