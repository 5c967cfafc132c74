"""Conditions, matchers and webhook signing: the pure pieces around the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.domain.conditions import (
    ChangeMode,
    Condition,
    ConditionKind,
    Operator,
    change_over,
    compare,
    kpi_verdict,
    status_verdict,
    trim_samples,
)
from services.alerts.domain.evaluation import Verdict
from services.alerts.domain.matching import Matcher, MatchOp, Silence, parse_matcher, silenced_by
from services.alerts.domain.webhooks import retry_delay, webhook_body

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class TestThreshold:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(5.01, Verdict.BREACH), (5.0, Verdict.BAND), (4.01, Verdict.BAND), (4.0, Verdict.CLEAR)],
    )
    def test_above_with_hysteresis(self, value: float, expected: Verdict) -> None:
        assert compare(Operator.ABOVE, 5.0, 4.0, value) is expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(0.5, Verdict.BREACH), (1.0, Verdict.BAND), (1.5, Verdict.CLEAR)],
    )
    def test_below_with_hysteresis(self, value: float, expected: Verdict) -> None:
        assert compare(Operator.BELOW, 1.0, 1.2, value) is expected

    def test_no_data_health_wins_over_the_value(self) -> None:
        cond = Condition(ConditionKind.THRESHOLD, Operator.ABOVE, 5.0)
        assert kpi_verdict(cond, 100.0, "no_data", []) is Verdict.NO_DATA


class TestHealthAndStatus:
    def test_amber_band_fires_on_amber_and_red(self) -> None:
        cond = Condition(ConditionKind.HEALTH, band="amber")
        assert [kpi_verdict(cond, 0, h, []) for h in ("green", "amber", "red", "unknown")] == [
            Verdict.CLEAR,
            Verdict.BREACH,
            Verdict.BREACH,
            Verdict.CLEAR,
        ]

    def test_off_track_fires_only_off_track_and_stale_is_no_data(self) -> None:
        cond = Condition(ConditionKind.STATUS, status="off_track")
        assert status_verdict(cond, "at_risk", 0.3) is Verdict.CLEAR
        assert status_verdict(cond, "off_track", 0.1) is Verdict.BREACH
        assert status_verdict(cond, "stale", 0.1) is Verdict.NO_DATA


class TestChange:
    def test_percent_change_against_the_sample_a_window_back(self) -> None:
        samples = [
            (T0, 100.0),
            (T0 + timedelta(minutes=30), 110.0),
            (T0 + timedelta(hours=1), 130.0),
        ]
        assert change_over(samples, timedelta(hours=1), ChangeMode.PERCENT) == pytest.approx(30.0)
        assert change_over(samples, timedelta(minutes=30), ChangeMode.ABSOLUTE) == 20.0

    def test_a_drop_below_a_negative_threshold_fires(self) -> None:
        cond = Condition(
            ConditionKind.CHANGE,
            Operator.BELOW,
            -20.0,
            window=timedelta(hours=1),
            change_mode=ChangeMode.PERCENT,
        )
        samples = [(T0, 100.0), (T0 + timedelta(hours=1), 75.0)]
        assert kpi_verdict(cond, 75.0, "green", samples) is Verdict.BREACH
        assert kpi_verdict(cond, 75.0, "green", samples[1:]) is Verdict.CLEAR

    def test_trim_keeps_one_sample_before_the_window(self) -> None:
        samples = [(T0 + timedelta(minutes=m), float(m)) for m in (0, 10, 50, 70)]
        kept = trim_samples(samples, timedelta(minutes=30))
        assert [v for _, v in kept] == [10.0, 50.0, 70.0]


class TestMatchers:
    def test_the_four_operators_anchored_regexes_and_absent_labels(self) -> None:
        labels = {"alertname": "ChurnHigh", "severity": "critical"}
        assert Matcher("severity", MatchOp.EQ, "critical").matches(labels)
        assert Matcher("team", MatchOp.EQ, "").matches(labels)
        assert Matcher("severity", MatchOp.NE, "info").matches(labels)
        assert Matcher("alertname", MatchOp.RE, "Churn.*").matches(labels)
        assert not Matcher("alertname", MatchOp.RE, "Churn").matches(labels)  # anchored
        assert Matcher("alertname", MatchOp.NRE, "Nps.*").matches(labels)

    def test_a_silence_mutes_only_between_its_start_and_end(self) -> None:
        silence = Silence("s1", (parse_matcher("kpi=churn"),), T0, T0 + timedelta(hours=1))
        labels = {"kpi": "churn"}
        assert silenced_by([silence], labels, T0 - timedelta(seconds=1)) == []
        assert silenced_by([silence], labels, T0) == ["s1"]
        assert silenced_by([silence], labels, T0 + timedelta(hours=1)) == []
        assert silenced_by([silence], {"kpi": "nps"}, T0) == []

    @pytest.mark.parametrize("text", ["kpi", "=x", "kpi=~(", "1kpi=x"])
    def test_bad_matchers_are_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"matcher|regex"):
            parse_matcher(text)


class TestWebhook:
    def test_body_is_alertmanager_v4(self) -> None:
        body = webhook_body(
            receiver="ChurnHigh",
            status="firing",
            labels={"alertname": "ChurnHigh"},
            annotations={"summary": "s"},
            starts_at=T0,
            ends_at=None,
            generator_url="http://x/v1/kpis/churn",
            fingerprint="abc",
            external_url="http://alerts",
        )
        assert body["version"] == "4"
        assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        assert body["alerts"][0]["startsAt"] == "2026-01-01T00:00:00Z"

    def test_retry_delay_doubles_up_to_a_cap(self) -> None:
        base, cap = timedelta(seconds=1), timedelta(seconds=10)
        assert [retry_delay(n, base, cap).total_seconds() for n in range(1, 6)] == [
            1,
            2,
            4,
            8,
            10,
        ]
