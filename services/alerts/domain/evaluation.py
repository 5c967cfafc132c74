"""The alert state machine: `step(status, observation, rule, now) -> (status, transition)`.

inactive ──breach──▶ pending ──held for `for`──▶ firing ──recovered──▶ resolved
    ▲                   │ recovered                                       │
    └───────────────────┴──────────────────────◀──────── breach again ───┘
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Operator(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class Transition(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Threshold:
    """Breached when the value is strictly above (or below) `value`."""

    operator: Operator
    value: float
    for_: timedelta = timedelta(0)

    def breached(self, observed: float) -> bool:
        if self.operator is Operator.ABOVE:
            return observed > self.value
        return observed < self.value


@dataclass(frozen=True, slots=True)
class AlertStatus:
    state: AlertState = AlertState.INACTIVE
    active_since: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    value: float | None = None


def step(
    status: AlertStatus, observed: float, rule: Threshold, now: datetime
) -> tuple[AlertStatus, Transition | None]:
    """Advance one alert by one observation; a transition means an event to publish."""
    if rule.breached(observed):
        since = (
            status.active_since if status.state in (AlertState.PENDING, AlertState.FIRING) else now
        )
        assert since is not None
        if status.state is AlertState.FIRING:
            return replace(status, value=observed), None
        if now - since >= rule.for_:
            firing = AlertStatus(AlertState.FIRING, since, now, None, observed)
            return firing, Transition.FIRED
        return AlertStatus(AlertState.PENDING, since, None, None, observed), None
    if status.state is AlertState.FIRING:
        resolved = AlertStatus(AlertState.RESOLVED, None, status.started_at, now, observed)
        return resolved, Transition.RESOLVED
    if status.state is AlertState.PENDING:
        return AlertStatus(AlertState.INACTIVE, value=observed), None
    return replace(status, value=observed), None


def fingerprint(labels: dict[str, str]) -> str:
    """A stable identity for a label set: the same labels, the same alert."""
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
