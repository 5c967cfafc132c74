"""Rule conditions: what a KPI value, a KR status or the clock says about a rule (a `Verdict`).

threshold  value strictly above / below `threshold`; with `resolve_threshold` (hysteresis)
           the alert only clears once past the resolve threshold
health     KPI health at or beyond a band: `amber` (amber or red) or `red`
status     KR / objective status at or beyond: `at_risk` (at risk or off track) or `off_track`
change     change over a window, absolute or percent, strictly above / below `threshold`
no_data    no data point for `no_data_for`
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.alerts.domain.evaluation import Verdict


class ConditionKind(StrEnum):
    THRESHOLD = "threshold"
    HEALTH = "health"
    STATUS = "status"
    CHANGE = "change"
    NO_DATA = "no_data"


class Operator(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class ChangeMode(StrEnum):
    ABSOLUTE = "absolute"
    PERCENT = "percent"


HEALTH_BANDS: dict[str, frozenset[str]] = {
    "amber": frozenset({"amber", "red"}),
    "red": frozenset({"red"}),
}
STATUS_LEVELS: dict[str, frozenset[str]] = {
    "at_risk": frozenset({"at_risk", "off_track"}),
    "off_track": frozenset({"off_track"}),
}


@dataclass(frozen=True, slots=True)
class Condition:
    kind: ConditionKind
    operator: Operator = Operator.ABOVE
    threshold: float | None = None
    resolve_threshold: float | None = None
    band: str | None = None  # health: amber | red
    status: str | None = None  # status: at_risk | off_track
    window: timedelta | None = None  # change
    change_mode: ChangeMode = ChangeMode.ABSOLUTE
    no_data_for: timedelta | None = None  # no_data


def compare(operator: Operator, fire: float, resolve: float | None, value: float) -> Verdict:
    """Strictly past `fire` → BREACH; past `resolve` but not `fire` → BAND; else CLEAR.

    `resolve` defaults to `fire` (no hysteresis): above 5 fires at 5.1 and clears at 5.0.
    """
    resolve = fire if resolve is None else resolve
    if operator is Operator.ABOVE:
        if value > fire:
            return Verdict.BREACH
        return Verdict.BAND if value > resolve else Verdict.CLEAR
    if value < fire:
        return Verdict.BREACH
    return Verdict.BAND if value < resolve else Verdict.CLEAR


Sample = tuple[datetime, float]


def change_over(samples: Sequence[Sample], window: timedelta, mode: ChangeMode) -> float | None:
    """The change of the newest sample against the baseline `window` before it.

    The baseline is the newest sample at or before (newest - window), else the oldest sample
    kept. Percent is relative to |baseline|; None when there is no baseline (one sample, or a
    zero baseline in percent mode).
    """
    if len(samples) < 2:
        return None
    ordered = sorted(samples)
    newest_at, newest = ordered[-1]
    cutoff = newest_at - window
    before = [s for s in ordered[:-1] if s[0] <= cutoff]
    _, base = before[-1] if before else ordered[0]
    if mode is ChangeMode.ABSOLUTE:
        return newest - base
    if base == 0:
        return None
    return (newest - base) / abs(base) * 100.0


def trim_samples(samples: Sequence[Sample], window: timedelta) -> list[Sample]:
    """The samples `change_over` still needs: those inside the window, plus one before it."""
    ordered = sorted(samples)
    if not ordered:
        return []
    cutoff = ordered[-1][0] - window
    inside = [s for s in ordered if s[0] > cutoff]
    before = [s for s in ordered if s[0] <= cutoff]
    return ([before[-1]] if before else []) + inside


def kpi_verdict(
    condition: Condition, value: float, health: str, samples: Sequence[Sample]
) -> Verdict:
    """The verdict of a KPI value event (`samples` include this value, for `change`).

    A KPI whose health is `no_data` gives NO_DATA whatever the condition; a fresh value clears
    a `no_data` condition.
    """
    if health == "no_data":
        return Verdict.NO_DATA
    if condition.kind is ConditionKind.THRESHOLD:
        assert condition.threshold is not None
        return compare(condition.operator, condition.threshold, condition.resolve_threshold, value)
    if condition.kind is ConditionKind.HEALTH:
        assert condition.band is not None
        return Verdict.BREACH if health in HEALTH_BANDS[condition.band] else Verdict.CLEAR
    if condition.kind is ConditionKind.CHANGE:
        assert condition.window is not None
        assert condition.threshold is not None
        change = change_over(samples, condition.window, condition.change_mode)
        if change is None:
            return Verdict.CLEAR
        return compare(condition.operator, condition.threshold, condition.resolve_threshold, change)
    if condition.kind is ConditionKind.NO_DATA:
        return Verdict.CLEAR
    return Verdict.CLEAR  # a status condition says nothing about a KPI


def status_verdict(condition: Condition, status: str, progress: float) -> Verdict:
    """The verdict of a key result's or objective's status (threshold conditions use progress,
    0.0 to 1.0). A `stale` KR (its KPI went quiet) gives NO_DATA."""
    if status == "stale":
        return Verdict.NO_DATA
    if condition.kind is ConditionKind.STATUS:
        assert condition.status is not None
        return Verdict.BREACH if status in STATUS_LEVELS[condition.status] else Verdict.CLEAR
    if condition.kind is ConditionKind.THRESHOLD:
        assert condition.threshold is not None
        return compare(
            condition.operator, condition.threshold, condition.resolve_threshold, progress
        )
    return Verdict.CLEAR


def absent_verdict(last_seen: datetime, no_data_for: timedelta, now: datetime) -> Verdict | None:
    """A `no_data` condition at a tick: BREACH once nothing arrived for `no_data_for`; None
    (nothing new) before that."""
    return Verdict.BREACH if now - last_seen >= no_data_for else None
