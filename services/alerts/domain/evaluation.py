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
    run = _Step(status, now)
    if observation.fresh:
        value = observation.value if observation.value is not None else status.value
        run.s = replace(run.s, last_seen_at=now, value=value)
    verdict = _verdict(run.s, observation, policy, now)
    if verdict is Verdict.NO_DATA:
        if run.s.state is not AlertState.NO_DATA:
            run.move(AlertState.NO_DATA, active_since=None, clear_since=None)
        return run.s, run.events
    holds = _holds(run.s, verdict)
    if holds is True:
        run.breached(policy)
    elif holds is False:
        run.cleared(policy)
    if run.s.state is AlertState.FIRING and not marks.muted:
        run.notify(policy, marks)
    return run.s, run.events


def _verdict(
    s: AlertStatus, observation: Observation, policy: Policy, now: datetime
) -> Verdict | None:
    """The observation's verdict; a tick (None) long enough after the last data is no data."""
    if (
        observation.verdict is None
        and policy.no_data_after is not None
        and s.last_seen_at is not None
        and now - s.last_seen_at >= policy.no_data_after
    ):
        return Verdict.NO_DATA
    return observation.verdict


def _holds(s: AlertStatus, verdict: Verdict | None) -> bool | None:
    """Whether the condition holds now: True, False, or None (nothing to decide)."""
    if verdict is None:
        # A tick re-reads the last verdict from the state: pending means it held, firing with
        # `clear_since` means it cleared; other states have nothing waiting on the clock.
        if s.state is AlertState.PENDING:
            return True
        if s.state is AlertState.FIRING:
            return s.clear_since is None
        return None
    if verdict is Verdict.BAND:
        return s.state in (AlertState.PENDING, AlertState.FIRING) or (
            s.state is AlertState.NO_DATA and s.notified
        )
    return verdict is Verdict.BREACH


class _Step:
    """One alert's status as `step` advances it, with the events each move gives."""

    def __init__(self, status: AlertStatus, now: datetime) -> None:
        self.s = status
        self.now = now
        self.events: list[AlertEvent] = []

    def move(self, to: AlertState, **changes: object) -> None:
        self.events.append(Transitioned(self.s.state, to, self.now))
        self.s = replace(self.s, state=to, **changes)  # type: ignore[arg-type]

    def breached(self, policy: Policy) -> None:
        s, now = self.s, self.now
        if s.state is AlertState.FIRING:
            self.s = replace(s, clear_since=None)
        elif s.state is AlertState.NO_DATA and s.notified:
            # Data came back still breaching: the published firing continues, not a new one.
            self.move(AlertState.FIRING, active_since=now, clear_since=None)
        else:
            since = s.active_since if s.state is AlertState.PENDING else now
            assert since is not None
            if now - since >= policy.for_:
                self.move(
                    AlertState.FIRING,
                    active_since=since,
                    started_at=now,
                    ended_at=None,
                    clear_since=None,
                    notified=False,
                    last_notified_at=None,
                )
            elif s.state is not AlertState.PENDING:
                self.move(AlertState.PENDING, active_since=now)

    def cleared(self, policy: Policy) -> None:
        s, now = self.s, self.now
        if s.state is AlertState.FIRING:
            cleared = s.clear_since or now
            if now - cleared < policy.keep_firing_for:
                self.s = replace(s, clear_since=cleared)
                return
            self.move(
                AlertState.RESOLVED,
                ended_at=now,
                active_since=None,
                clear_since=None,
                notified=False,
            )
            if s.notified:
                self.events.append(Notify("resolved", now))
        elif s.state is AlertState.PENDING:
            self.move(AlertState.INACTIVE, active_since=None)
        elif s.state is AlertState.NO_DATA:
            if s.notified:
                self.move(AlertState.RESOLVED, ended_at=now, notified=False)
                self.events.append(Notify("resolved", now))
            else:
                self.move(AlertState.INACTIVE)

    def notify(self, policy: Policy, marks: Marks) -> None:
        """A firing alert is published once, then again every repeat interval unless acked."""
        s, now = self.s, self.now
        if not s.notified:
            self.s = replace(s, notified=True, last_notified_at=now)
            self.events.append(Notify("firing", now))
        elif (
            not marks.acknowledged
            and s.last_notified_at is not None
            and now - s.last_notified_at >= policy.repeat_interval
        ):
            self.s = replace(s, last_notified_at=now)
            self.events.append(Notify("firing", now, repeat=True))


def next_tick(
    s: AlertStatus,
    policy: Policy,
    now: datetime,
    *,
    muted: bool,
    absent_at: datetime | None = None,
    marks_change_at: datetime | None = None,
) -> datetime | None:
    """The earliest time the clock can move an alert in status `s` (a tick of `step`), or
    None when only an observation can: the ticker steps the alerts due by then, not all.

    Early is harmless (the tick changes nothing and asks again), late is not, so every timer
    counts: `for` of a pending alert, `keep_firing_for` of a clearing one, the repeat of a
    published firing (acknowledged too: an ack taken off early lets it repeat), a firing held
    back only by a mute (at `now` once unmuted), no data after `no_data_after`, a `no_data`
    condition's deadline (`absent_at`), and `marks_change_at` (a silence starting or ending).
    """
    # Past its deadline a no_data condition breaches at every tick: the timers then run on.
    standing = absent_at is not None and absent_at <= now
    times = [] if marks_change_at is None else [marks_change_at]
    if absent_at is not None and not standing:
        times.append(absent_at)
    quiet_for, seen = policy.no_data_after, s.last_seen_at
    if quiet_for is not None and seen is not None and s.state is not AlertState.NO_DATA:
        times.append(seen + quiet_for)
    if s.state is AlertState.PENDING and s.active_since is not None:
        times.append(s.active_since + policy.for_)
    elif s.state is AlertState.FIRING:
        if s.clear_since is not None:  # a standing breach ends the clearing at once
            times.append(now if standing else s.clear_since + policy.keep_firing_for)
        if not s.notified:
            if not muted:
                times.append(now)
        elif s.last_notified_at is not None:
            times.append(s.last_notified_at + policy.repeat_interval)
    elif standing:
        times.append(now)  # the next tick breaches
    return min(times, default=None)
