"""Label matchers, silences and inhibition, with Alertmanager's semantics.

A matcher compares one label (absent reads as "") with `=`, `!=`, `=~` or `!~`; regexes are
anchored at both ends, as in Alertmanager, and run on RE2 (`regex`: linear time). A silence
mutes the alerts all its matchers match while `starts_at <= now < ends_at`. An inhibition
rule mutes a target alert while a firing source alert exists with the same values of the
`equal` labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.alerts.domain.regex import MAX_PATTERN_CHARS, compile_anchored, full_match


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        if self.value == ".+":  # the default inhibit rule's, on every alert a batch steps
            found = actual != "" and "\n" not in actual  # RE2's `.` matches no newline
        else:
            found = full_match(self.value, actual)
        return found if self.op is MatchOp.RE else not found


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def silences(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and matches_all(self.matchers, labels)


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> list[str]:
    """The ids of the active silences that mute an alert with `labels`."""
    return [s.id for s in silences if s.silences(labels, now)]


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


# A key result's alert is inhibited while the alert of the KPI it is linked to fires: the KPI
# alert is the cause, the KR alert a consequence (KR alerts carry their linked `kpi` label).
DEFAULT_INHIBIT_RULES = (
    InhibitRule(
        source=(Matcher("kpi", MatchOp.RE, ".+"), Matcher("key_result", MatchOp.EQ, "")),
        target=(Matcher("key_result", MatchOp.RE, ".+"), Matcher("kpi", MatchOp.RE, ".+")),
        equal=("tenant", "kpi"),
    ),
)


def inhibited(
    target: Mapping[str, str],
    firing: Iterable[Mapping[str, str]],
    rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES,
) -> bool:
    """Whether an alert with labels `target` is inhibited by one of the `firing` alerts.

    Runs for every alert a batch steps, against every firing alert of its tenant: the cheap
    tests go first (is it a target at all, do the `equal` labels agree) and the matchers,
    regexes among them, last."""
    sources = list(firing)
    if not sources:
        return False
    applicable = [rule for rule in rules if matches_all(rule.target, target)]
    if not applicable:
        return False
    for rule in applicable:
        wanted = [(n, target.get(n, "")) for n in rule.equal]
        for source in sources:
            if any(source.get(n, "") != value for n, value in wanted):
                continue
            if source != target and matches_all(rule.source, source):
                return True
    return False


_MATCHER = compile_anchored(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")


def parse_matcher(text: str) -> Matcher:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex` (as in amtool); raises
    ValueError on anything else or on an invalid regex."""
    if len(text) > MAX_PATTERN_CHARS + 80:
        raise ValueError(f"a matcher may have at most {MAX_PATTERN_CHARS + 80} characters")
    m = _MATCHER.fullmatch(text)
    if m is None:
        raise ValueError(f"not a matcher: {text!r} (expected name=value, !=, =~ or !~)")
    matcher = Matcher(m.group(1), MatchOp(m.group(2)), m.group(3).strip('"'))
    validate(matcher)
    return matcher


def validate(matcher: Matcher) -> None:
    if matcher.op in (MatchOp.RE, MatchOp.NRE):
        compile_anchored(matcher.value)


def next_silence_change(
    silences: Iterable[Silence], labels: Mapping[str, str], now: datetime
) -> datetime | None:
    """When the silences muting an alert with `labels` next change: the earliest start of a
    future one or end of an active one that matches it (None: none does)."""
    times = [
        s.starts_at if s.starts_at > now else s.ends_at
        for s in silences
        if s.ends_at > now and matches_all(s.matchers, labels)
    ]
    return min(times, default=None)
