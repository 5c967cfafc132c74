"""Alertmanager's API v2 shapes: filters as amtool, Grafana and Karma send them, the
active/silenced/inhibited query flags, matchers both ways, silences and posted alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.domain import alertmanager as am
from services.alerts.domain.matching import Matcher, MatchOp

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def view(
    fp: str, *, silenced: bool = False, inhibited: bool = False, **labels: str
) -> am.AlertView:
    return am.AlertView(
        fingerprint=fp,
        labels={"alertname": "ChurnHigh", **labels},
        annotations={"summary": "s"},
        starts_at=NOW - timedelta(minutes=3),
        ends_at=None,
        updated_at=NOW,
        generator_url=f"http://lodestar/v1/alerts/{fp}",
        silenced_by=["s1"] if silenced else [],
        inhibited=inhibited,
    )


class TestFilter:
    def test_one_matcher_per_parameter_as_amtool_sends(self) -> None:
        assert am.parse_filter(['alertname="ChurnHigh"', "kpi=~ch.*"]) == (
            Matcher("alertname", MatchOp.EQ, "ChurnHigh"),
            Matcher("kpi", MatchOp.RE, "ch.*"),
        )

    def test_a_selector_of_several_with_a_comma_inside_quotes(self) -> None:
        assert am.parse_filter(['{team!="a,b", severity="critical"}']) == (
            Matcher("team", MatchOp.NE, "a,b"),
            Matcher("severity", MatchOp.EQ, "critical"),
        )

    def test_garbage_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not a matcher"):
            am.parse_filter(["no operator here"])


class TestQuery:
    alerts = (view("a"), view("b", silenced=True), view("c", inhibited=True))

    def chosen(self, query: am.AlertQuery) -> list[str]:
        return [a["fingerprint"] for a in am.select(self.alerts, query, NOW)]

    def test_alertmanagers_defaults_show_everything(self) -> None:
        assert self.chosen(am.AlertQuery()) == ["a", "b", "c"]

    def test_amtools_default_shows_only_the_active(self) -> None:
        assert self.chosen(am.AlertQuery(silenced=False, inhibited=False)) == ["a"]

    def test_only_the_muted(self) -> None:
        assert self.chosen(am.AlertQuery(active=False)) == ["b", "c"]

    def test_a_receiver_other_than_lodestar_matches_nothing(self) -> None:
        assert self.chosen(am.AlertQuery(receiver="pager.*")) == []
        assert self.chosen(am.AlertQuery(receiver="lode.*")) == ["a", "b", "c"]

    def test_a_muted_alert_says_so_and_by_what(self) -> None:
        [alert] = am.select(self.alerts, am.AlertQuery(active=False, inhibited=False), NOW)
        assert alert["status"]["state"] == "suppressed"
        assert alert["status"]["silencedBy"] == ["s1"]
        assert alert["endsAt"] == "2026-12-01T12:05:00.000000Z"

    def test_groups_by_alertname(self) -> None:
        alerts = [view("a"), view("b", alertname="MqlLow")]
        found = am.groups(alerts, am.AlertQuery(), NOW)
        assert [(g["labels"], [a["fingerprint"] for a in g["alerts"]]) for g in found] == [
            ({"alertname": "ChurnHigh"}, ["a"]),
            ({"alertname": "MqlLow"}, ["b"]),
        ]


def test_matchers_map_both_ways() -> None:
    posted = [
        {"name": "a", "value": "1", "isRegex": False, "isEqual": True},
        {"name": "b", "value": "2", "isRegex": False, "isEqual": False},
        {"name": "c", "value": "3.*", "isRegex": True},
        {"name": "d", "value": "4.*", "isRegex": True, "isEqual": False},
    ]
    ours = am.matchers_from_api(posted)
    assert [m["op"] for m in ours] == ["=", "!=", "=~", "!~"]
    silence = am.SilenceView("s", ours, NOW, NOW + timedelta(hours=1), NOW, "me", "")
    shown = am.gettable_silence(silence, NOW)
    assert shown["matchers"] == [{**m, "isEqual": m.get("isEqual", True)} for m in posted]
    assert shown["status"] == {"state": "active"}
    assert am.gettable_silence(silence, NOW + timedelta(hours=1))["status"]["state"] == "expired"


def test_a_posted_alert_carries_the_given_end() -> None:
    ends = NOW + timedelta(minutes=4)
    posted = am.postable(view("a", kpi="churn"), ends)
    assert posted == {
        "labels": {"alertname": "ChurnHigh", "kpi": "churn"},
        "annotations": {"summary": "s"},
        "startsAt": "2026-12-01T11:57:00.000000Z",
        "endsAt": "2026-12-01T12:04:00.000000Z",
        "generatorURL": "http://lodestar/v1/alerts/a",
    }
