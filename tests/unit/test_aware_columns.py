"""The column types that hold an instant store NULL for None, refuse a naive datetime, and read
an aware one back as the same instant in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
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


SQLITE = sqlite.dialect()
# What SQLAlchemy's own DateTime type writes and reads on SQLite: the reference the UtcDateTime
# processors of SQLite (written with isoformat/fromisoformat, for speed) must agree with.
REFERENCE_BIND = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
REFERENCE_READ = DateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
UTC_BIND = UtcDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
UTC_READ = UtcDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)


@given(
    at=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=st.timezones()
    )
)
def test_on_sqlite_the_text_is_sqlalchemys_own_and_reads_back_as_the_instant(at: datetime) -> None:
    text = UTC_BIND(at)
    assert text == REFERENCE_BIND(at.astimezone(UTC).replace(tzinfo=None))
    back = UTC_READ(text)
    assert back == at.astimezone(UTC)  # (not `at`: PEP 495 never equates a time in a gap)
    assert back.tzinfo is UTC
    assert REFERENCE_READ(text) == back.replace(tzinfo=None)


def test_on_sqlite_text_without_a_fraction_or_with_an_offset_reads_as_its_instant() -> None:
    assert UTC_READ("2026-12-02 09:30:00") == datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    assert UTC_READ("2026-12-02 11:30:00+02:00") == datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    # as long as the text the bind writes, but with an offset: not read as UTC
    assert UTC_READ("2026-12-02 11:30:00.1+0200") == datetime(
        2026, 12, 2, 9, 30, 0, 100_000, tzinfo=UTC
    )
    assert UTC_BIND(None) is None
    assert UTC_READ(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        UTC_BIND(datetime(2026, 12, 2, 9, 30))
