"""Alertmanager's API v2 shapes, as plain values: the alerts Lodestar posts to an Alertmanager,
the alerts, groups, silences and status it answers readers (amtool, Grafana, Karma) with, and
the `filter` matchers those readers send."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.alerts.domain.matching import Matcher, MatchOp, matches_all, parse_matcher
from services.alerts.domain.regex import full_match

# Every alert a reader sees went through one receiver: Lodestar itself (it has no routing tree).
RECEIVER = "lodestar"
# Alertmanager's answer to a firing alert's endsAt: it holds until resolve_timeout (5 m) passes.
RESOLVE_TIMEOUT = timedelta(minutes=5)


def rfc3339(at: datetime) -> str:
    """UTC with a `Z` and microseconds (Go's RFC 3339 parser takes any fraction)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class AlertView:
    """What the Alertmanager views need of one Lodestar alert."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    updated_at: datetime
    generator_url: str
    silenced_by: Sequence[str]
    inhibited: bool


def postable(alert: AlertView, ends_at: datetime) -> dict[str, Any]:
    """One element of `POST /api/v2/alerts`. A firing alert carries an `ends_at` a few resend
    intervals ahead (as Prometheus does), so an Alertmanager that stops hearing from Lodestar
    resolves it by itself; a resolved one carries when it resolved."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
        "generatorURL": alert.generator_url,
    }


def gettable(alert: AlertView, now: datetime) -> dict[str, Any]:
    """One element of `GET /api/v2/alerts` (Alertmanager's `gettableAlert`)."""
    suppressed = bool(alert.silenced_by) or alert.inhibited
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at or now + RESOLVE_TIMEOUT),
        "updatedAt": rfc3339(alert.updated_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": RECEIVER}],
        "status": {
            "state": "suppressed" if suppressed else "active",
            "silencedBy": list(alert.silenced_by),
            # Lodestar records that an alert is inhibited, not by which alert.
            "inhibitedBy": [],
            "mutedBy": [],
        },
    }


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """`GET /api/v2/alerts` and `/alerts/groups` parameters, Alertmanager's defaults."""

    matchers: tuple[Matcher, ...] = ()
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    receiver: str | None = None

    def wants(self, alert: AlertView) -> bool:
        silenced, inhibited = bool(alert.silenced_by), alert.inhibited
        if (silenced and not self.silenced) or (inhibited and not self.inhibited):
            return False
        if not silenced and not inhibited and not self.active:
            return False
        if self.receiver is not None and not full_match(self.receiver, RECEIVER):
            return False
        return matches_all(self.matchers, alert.labels)


def select(alerts: Iterable[AlertView], query: AlertQuery, now: datetime) -> list[dict[str, Any]]:
    """The gettable alerts a query asks for, in fingerprint order."""
    chosen = [a for a in alerts if query.wants(a)]
    return [gettable(a, now) for a in sorted(chosen, key=lambda a: a.fingerprint)]


def groups(alerts: Iterable[AlertView], query: AlertQuery, now: datetime) -> list[dict[str, Any]]:
    """`GET /api/v2/alerts/groups`: the chosen alerts grouped by `alertname` (Lodestar's
    grouping of an alert's notifications), one receiver."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for alert in select(alerts, query, now):
        by_name.setdefault(alert["labels"].get("alertname", ""), []).append(alert)
    return [
        {"labels": {"alertname": name}, "receiver": {"name": RECEIVER}, "alerts": members}
        for name, members in sorted(by_name.items())
    ]


_SPLIT = re.compile(r'((?:[^,"]|"(?:[^"\\]|\\.)*")+)')


def parse_filter(values: Iterable[str]) -> tuple[Matcher, ...]:
    """The `filter` parameters: each one matcher (`name="value"`, as amtool sends) or a
    selector of several (`{a="b",c=~"d"}`, as Grafana and Karma may); ValueError otherwise."""
    found: list[Matcher] = []
    for value in values:
        text = value.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        for piece in _SPLIT.findall(text):
            if piece.strip():
                found.append(parse_matcher(piece))
    return tuple(found)


def matchers_from_api(items: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Alertmanager's matchers (`isRegex`, `isEqual`, default true) as Lodestar's (`op`)."""
    ops = {
        (False, True): MatchOp.EQ,
        (False, False): MatchOp.NE,
        (True, True): MatchOp.RE,
        (True, False): MatchOp.NRE,
    }
    return [
        {
            "name": str(m["name"]),
            "op": ops[(bool(m.get("isRegex", False)), bool(m.get("isEqual", True)))].value,
            "value": str(m["value"]),
        }
        for m in items
    ]


@dataclass(frozen=True, slots=True)
class SilenceView:
    id: str
    matchers: Sequence[Mapping[str, str]]  # Lodestar's: name, op, value
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    created_by: str
    comment: str


def silence_state(silence: SilenceView, now: datetime) -> str:
    if silence.ends_at <= now:
        return "expired"
    return "pending" if silence.starts_at > now else "active"


def gettable_silence(silence: SilenceView, now: datetime) -> dict[str, Any]:
    """Alertmanager's `gettableSilence`."""
    return {
        "id": silence.id,
        "status": {"state": silence_state(silence, now)},
        "updatedAt": rfc3339(silence.updated_at),
        "matchers": [
            {
                "name": m["name"],
                "value": m["value"],
                "isRegex": m["op"] in (MatchOp.RE, MatchOp.NRE),
                "isEqual": m["op"] in (MatchOp.EQ, MatchOp.RE),
            }
            for m in silence.matchers
        ],
        "startsAt": rfc3339(silence.starts_at),
        "endsAt": rfc3339(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


def silence_matches_filter(silence: SilenceView, matchers: Sequence[Matcher]) -> bool:
    """Alertmanager's silence filter: every filter matcher matches the silence's matchers
    read as labels (name → value)."""
    labels = {m["name"]: m["value"] for m in silence.matchers}
    return matches_all(matchers, labels)


def status(*, version: str, started_at: datetime, config: str) -> dict[str, Any]:
    """`GET /api/v2/status` (`alertmanagerStatus`): no cluster, Lodestar's version."""
    return {
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {
            "version": version,
            "revision": "lodestar",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": {"original": config},
        "uptime": rfc3339(started_at),
    }
