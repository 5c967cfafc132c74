"""How the consume loop names failures: which errors are transient, the DLQ reason of a
handler's failure and its category, and a repeated error logged once with a count."""

from __future__ import annotations

import sqlite3

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from structlog.testing import capture_logs

from shared.failures import failure_reason, is_transient
from shared.inbound import reason_category
from shared.supervisor import RepeatedErrors


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


class PgError(Exception):
    """Stands for asyncpg's errors, which carry their SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("INSERT ...", {}, orig)


class TestTransient:
    @pytest.mark.parametrize(
        "error",
        [
            ConnectionRefusedError("refused"),
            TimeoutError(),
            KafkaConnectionError("broker"),
            KafkaTimeoutError(),
            OperationalError("BEGIN", {}, sqlite_error("database is locked", 5)),
            OperationalError("INSERT", {}, sqlite_error("attempt to write a readonly database", 8)),
            OperationalError("COMMIT", {}, sqlite_error("disk I/O error", 10 | (3 << 8))),
            wrapped(PgError("connection does not exist", "08003")),
            wrapped(PgError("terminating connection due to administrator command", "57P01")),
            wrapped(PgError("could not serialize access", "40001")),
            wrapped(PgError('database "x" does not exist', "3D000")),
            DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        ],
        ids=repr,
    )
    def test_outages_locks_and_timeouts_are_transient(self, error: BaseException) -> None:
        assert is_transient(error)

    def test_the_cause_chain_is_followed(self) -> None:
        outer = RuntimeError("store failed")
        outer.__cause__ = ConnectionResetError("reset by peer")
        assert is_transient(outer)

    @pytest.mark.parametrize(
        "error",
        [
            ValueError("year 10000 is out of range"),
            OverflowError("date value out of range"),
            IntegrityError("INSERT", {}, sqlite3.IntegrityError("NOT NULL constraint failed")),
            wrapped(PgError("invalid byte sequence for encoding UTF8: 0x00", "22021")),
            wrapped(PgError("value too long for type character varying(64)", "22001")),
            OperationalError("INSERT", {}, sqlite_error("too many SQL variables", 1)),
        ],
        ids=repr,
    )
    def test_what_a_record_causes_is_not(self, error: BaseException) -> None:
        assert not is_transient(error)


class TestReasons:
    def test_a_handler_failure_names_the_type_and_message_on_one_bounded_line(self) -> None:
        assert failure_reason(ValueError("bad\n  value")) == "handler failed: ValueError: bad value"
        long = failure_reason(ValueError("x" * 2000))
        assert len(long) == len("handler failed: ValueError: ") + 500 + 1

    @pytest.mark.parametrize(
        ("reason", "category"),
        [
            ("handler failed: ValueError: x", "handler_failed"),
            ("payload too large: 70000 bytes > 65536", "too_large"),
            ("outside the deduplication window: event time ...", "outside_window"),
            ("invalid CloudEvent: time: ...", "invalid_event"),
            ("invalid data for lodestar.kpi.measurement.v1: value: ...", "invalid_event"),
            ("undecodable record: KeyError: 'x'", "invalid_event"),
            ("empty record", "invalid_event"),
            ("unknown KPI 'mql' for tenant 'acme'", "unknown_reference"),
            ("unknown tenant 'acme'", "unknown_reference"),
            ("unexpected event type lodestar.kr.progress.v1", "unexpected_type"),
            ("a graduated KR of kind 'milestone' cannot be a guardrail", "other"),
        ],
    )
    def test_each_reason_falls_in_a_bounded_category(self, reason: str, category: str) -> None:
        assert reason_category(reason) == category


class TestRepeatedErrors:
    def test_logged_once_then_counted_on_change_and_on_recovery(self) -> None:
        errors = RepeatedErrors("batch_failed", loop="measurements")
        with capture_logs() as logs:
            for _ in range(5):
                errors.failed(ConnectionRefusedError("database down"))
            errors.failed(TimeoutError("probe timed out"))
            errors.failed(TimeoutError("probe timed out"))
            errors.recovered()
            errors.recovered()  # nothing more to say
        assert [(e["event"], e.get("repeated"), e["error"]) for e in logs] == [
            ("batch_failed", None, "ConnectionRefusedError: database down"),
            ("batch_failed_repeated", 5, "ConnectionRefusedError: database down"),
            ("batch_failed", None, "TimeoutError: probe timed out"),
            ("batch_failed_recovered", 2, "TimeoutError: probe timed out"),
        ]
        assert all(e["loop"] == "measurements" for e in logs)
