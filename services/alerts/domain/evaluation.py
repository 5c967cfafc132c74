"""The alert state machine: `step(status, observation, policy, now, marks) -> (status, events)`.

    inactive ──holds──▶ pending ──held `for`──▶ firing ──clear for `keep_firing_for`──▶ resolved
        ▲                 │ cleared                 │  ▲ data back                        │
        └─────────────────┘                         ▼  │                                   │
                              no_data ◀── no data ── any state        holds again ◀───────┘

Acknowledged, silenced and inhibited are *marks*, not states: a silenced or inhibited alert
still moves through the states (and keeps its history) but is not published; an acknowledged
one is published but not repeated. A resolution is published exactly when the firing it ends
was published, so a subscriber that saw an alert fire always sees it end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NO_DATA = "no_data"


ACTIVE_STATES = frozenset({AlertState.PENDING, AlertState.FIRING, AlertState.NO_DATA})


class Verdict(StrEnum):
    """What one observation says about a rule's condition."""

    BREACH = "breach"  # past the fire threshold: the condition holds
    BAND = "band"  # between the fire and the resolve threshold: holds only if already active
    CLEAR = "clear"  # past the resolve threshold: the condition does not hold
    NO_DATA = "no_data"  # the subject reports that it has no data


@dataclass(frozen=True, slots=True)
class Observation:
    """One input of the state machine.

    `verdict` None is a timer tick: time passed, nothing new was observed. `fresh` says a data
    point arrived (it resets the no-data clock); a breach decided by the clock (a "no data for
    10 minutes" rule) is not fresh.
    """

    verdict: Verdict | None
    value: float | None = None
    fresh: bool = True

    @classmethod
    def tick(cls) -> Observation:
        return cls(None, None, fresh=False)


@dataclass(frozen=True, slots=True)
class Policy:
    """A rule's timing. `for_`: how long the condition must hold before firing; `keep_firing_for`:
    how long a firing alert stays firing after its condition cleared (anti-flap); `repeat_interval`:
    how often a still-firing alert is published again; `no_data_after`: how long without a data
    point before the alert goes to `no_data` (None: never)."""

    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    no_data_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Marks:
    """Marks on an alert that change what is published, never its state."""

    silenced: bool = False
    inhibited: bool = False
    acknowledged: bool = False

    @property
    def muted(self) -> bool:
        return self.silenced or self.inhibited


@dataclass(frozen=True, slots=True)
class AlertStatus:
    state: AlertState = AlertState.INACTIVE
    active_since: datetime | None = None  # the condition has held since (pending, firing)
    started_at: datetime | None = None  # fired at: Alertmanager's startsAt
    ended_at: datetime | None = None  # resolved at: endsAt
    clear_since: datetime | None = None  # firing, but the condition cleared at (keep_firing_for)
    value: float | None = None
    last_seen_at: datetime | None = None  # the last fresh data point
    notified: bool = False  # the current firing has been published
    last_notified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transitioned:
    """The alert changed state: one line of its history."""

    from_state: AlertState
    to_state: AlertState
    at: datetime


@dataclass(frozen=True, slots=True)
class Notify:
    """Publish the alert (the topic, the webhook): it fired, fires still (`repeat`), or ended."""

    status: Literal["firing", "resolved"]
    at: datetime
    repeat: bool = False


AlertEvent = Transitioned | Notify


def step(
    status: AlertStatus,
    observation: Observation,
    policy: Policy,
    now: datetime,
    marks: Marks = Marks(),
) -> tuple[AlertStatus, list[AlertEvent]]:
    """Advance one alert by one observation (or tick) at `now`.

    Rules: the condition must hold for `policy.for_` (pending meanwhile) before the alert fires;
    a firing alert fires once (dedupe) and is published again every `repeat_interval` unless
    acknowledged or muted; it resolves once its condition has stayed clear for `keep_firing_for`;
    a `BAND` verdict (hysteresis) keeps an active alert active but never starts one; no data
    moves any alert to `no_data`, keeping a published firing open until data says otherwise.
    """
    events: list[AlertEvent] = []
    s = status
    if observation.fresh:
        value = observation.value if observation.value is not None else s.value
        s = replace(s, last_seen_at=now, value=value)

    def move(to: AlertState, **changes: object) -> None:
        nonlocal s
        events.append(Transitioned(s.state, to, now))
        s = replace(s, state=to, **changes)  # type: ignore[arg-type]

    verdict = observation.verdict
    if (
        verdict is None
        and policy.no_data_after is not None
        and s.last_seen_at is not None
        and now - s.last_seen_at >= policy.no_data_after
    ):
        verdict = Verdict.NO_DATA

    if verdict is Verdict.NO_DATA:
        if s.state is not AlertState.NO_DATA:
            move(AlertState.NO_DATA, active_since=None, clear_since=None)
        return s, events

    if verdict is None:
        # A tick re-reads the last verdict from the state: pending means it held, firing with
        # `clear_since` means it cleared; other states have nothing waiting on the clock.
        if s.state is AlertState.PENDING:
            holds: bool | None = True
        elif s.state is AlertState.FIRING:
            holds = s.clear_since is None
        else:
            holds = None
    elif verdict is Verdict.BAND:
        holds = s.state in (AlertState.PENDING, AlertState.FIRING) or (
            s.state is AlertState.NO_DATA and s.notified
        )
    else:
        holds = verdict is Verdict.BREACH

    if holds is True:
        if s.state is AlertState.FIRING:
            s = replace(s, clear_since=None)
        elif s.state is AlertState.NO_DATA and s.notified:
            # Data came back still breaching: the published firing continues, not a new one.
            move(AlertState.FIRING, active_since=now, clear_since=None)
        else:
            since = s.active_since if s.state is AlertState.PENDING else now
            assert since is not None
            if now - since >= policy.for_:
                move(
                    AlertState.FIRING,
                    active_since=since,
                    started_at=now,
                    ended_at=None,
                    clear_since=None,
                    notified=False,
                    last_notified_at=None,
                )
            elif s.state is not AlertState.PENDING:
                move(AlertState.PENDING, active_since=now)
    elif holds is False:
        if s.state is AlertState.FIRING:
            cleared = s.clear_since or now
            if now - cleared >= policy.keep_firing_for:
                was_notified = s.notified
                move(
                    AlertState.RESOLVED,
                    ended_at=now,
                    active_since=None,
                    clear_since=None,
                    notified=False,
                )
                if was_notified:
                    events.append(Notify("resolved", now))
            else:
                s = replace(s, clear_since=cleared)
        elif s.state is AlertState.PENDING:
            move(AlertState.INACTIVE, active_since=None)
        elif s.state is AlertState.NO_DATA:
            if s.notified:
                move(AlertState.RESOLVED, ended_at=now, notified=False)
                events.append(Notify("resolved", now))
            else:
                move(AlertState.INACTIVE)

    if s.state is AlertState.FIRING and not marks.muted:
        if not s.notified:
            s = replace(s, notified=True, last_notified_at=now)
            events.append(Notify("firing", now))
        elif (
            not marks.acknowledged
            and s.last_notified_at is not None
            and now - s.last_notified_at >= policy.repeat_interval
        ):
            s = replace(s, last_notified_at=now)
            events.append(Notify("firing", now, repeat=True))
    return s, events
